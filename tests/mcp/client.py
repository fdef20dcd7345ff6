"""Hearth's MCP server (`hearth mcp`, stdio) driven by the official MCP Python SDK (`mcp` from
PyPI): list the tools, search and ask on a real library, progress, a cancelled call, bad
arguments, a document outside the library. Prints one "NAME ... ok" line per check."""
import asyncio
import os
import sys

import anyio
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client

HEARTH, DATA, ERRLOG = os.environ["HEARTH_BIN"], os.environ["HEARTH_DATA"], os.environ["HEARTH_MCP_LOG"]


def check(name, ok, detail=""):
    if not ok:
        print(f"FAILED: {name}: {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"{name} ... ok", flush=True)


async def main():
    params = StdioServerParameters(command=HEARTH, args=["--data-dir", DATA, "mcp"])
    with open(ERRLOG, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as s:
                init = await s.initialize()
                check("initialize names the server", init.server_info.name == "hearth", init)

                tools = {t.name: t for t in (await s.list_tools()).tools}
                check("five tools", set(tools) == {"search", "ask", "list_documents", "read_page", "list_collections"}, list(tools))
                check("tools describe themselves", all(len(t.description or "") > 40 for t in tools.values()))
                check("search takes a required query", tools["search"].input_schema["required"] == ["query"])

                r = await s.call_tool("search", {"query": "when do the heron eggs hatch", "limit": 3})
                passages = r.structured_content["passages"]
                check("search finds the heron page", not r.is_error and os.path.basename(passages[0]["path"]) == "field-guide.pdf"
                      and passages[0]["page"] is not None, passages[:1])

                progress = []

                async def on_progress(done, total, message):
                    progress.append((done, total, message))

                r = await s.call_tool("ask", {"question": "When do the heron eggs hatch?"}, progress_callback=on_progress)
                a = r.structured_content
                cited = [os.path.basename(c["path"]) for c in a["citations"]]
                check("ask answers with a citation of the field guide and its page", not r.is_error and not a["not_found"]
                      and "field-guide.pdf" in cited and all(c["page"] for c in a["citations"] if c["path"].endswith(".pdf")), a)
                check("ask reports progress", len(progress) >= 2 and progress[0][1] == 3.0, progress)

                docs = (await s.call_tool("list_documents", {})).structured_content["documents"]
                check("list_documents", len(docs) == 6, docs)
                cols = await s.call_tool("list_collections", {})
                check("list_collections", not cols.is_error and cols.structured_content["collections"] == [], cols)

                guide = next(d["path"] for d in docs if d["path"].endswith("field-guide.pdf"))
                page = await s.call_tool("read_page", {"path": guide, "page": 1})
                check("read_page gives a page of an indexed document", not page.is_error and len(page.structured_content["text"]) > 100)
                outside = await s.call_tool("read_page", {"path": "/etc/passwd"})
                check("read_page refuses what is not in the library", outside.is_error
                      and outside.content[0].text.startswith("[invalid_request]") and "not in the library" in outside.content[0].text,
                      outside.content)

                bad = await s.call_tool("search", {"query": "herons", "limit": 0})
                check("a bad value is a tool error with the engine's code", bad.is_error and bad.content[0].text.startswith("[invalid_request]"),
                      bad.content)
                try:
                    await s.call_tool("search", {"limit": 3})
                    check("a missing argument is refused", False, "no error")
                except MCPError as e:
                    check("a missing argument is refused", e.error.code == -32602 and "query" in e.error.message, e.error)

                # a call the client gives up on is cancelled on the server, which goes on serving
                with anyio.move_on_after(0.5):
                    await s.call_tool("ask", {"question": "Tell me everything the documents say about herons, their eggs, nests and chicks."})
                for _ in range(100):
                    errlog.flush()
                    if "cancelled by the client" in open(ERRLOG).read():
                        break
                    await asyncio.sleep(0.1)
                check("a cancelled call is cancelled on the server", "cancelled by the client" in open(ERRLOG).read(), open(ERRLOG).read()[-500:])
                r = await s.call_tool("ask", {"question": "How many eggs does a heron lay?"})
                check("the server answers after a cancelled call", not r.is_error and r.structured_content["answer"], r.content)


asyncio.run(main())
