"""Hearth's MCP server driven by the official MCP Python SDK (`mcp` from PyPI), over stdio
(`hearth mcp`) and over Streamable HTTP (`/mcp` in `hearth serve`): list the tools, search and
ask on a real library, progress, a cancelled call, bad arguments, a document outside the
library, a missing token. Prints one "NAME ... ok" line per check."""
import asyncio
import os
import sys

import urllib.error
import urllib.request

import anyio
from mcp import Client, ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

HEARTH, DATA, ERRLOG = os.environ["HEARTH_BIN"], os.environ["HEARTH_DATA"], os.environ["HEARTH_MCP_LOG"]
URL, TOKEN, SERVE_LOG = os.environ["HEARTH_MCP_URL"], os.environ["HEARTH_TOKEN"], os.environ["HEARTH_SERVE_LOG"]
# tests/data/corpus (6 files) and the three real pages run.sh adds
DOCS = 9


def check(name, ok, detail=""):
    if not ok:
        print(f"FAILED: {name}: {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"{name} ... ok", flush=True)


async def exercise(s, how, log):
    init = await s.initialize()
    check(f"{how}: initialize names the server", init.server_info.name == "hearth", init)

    tools = {t.name: t for t in (await s.list_tools()).tools}
    check(f"{how}: five tools", set(tools) == {"search", "ask", "list_documents", "read_page", "list_collections"}, list(tools))
    check(f"{how}: tools describe themselves", all(len(t.description or "") > 40 for t in tools.values()))
    check(f"{how}: search takes a required query", tools["search"].input_schema["required"] == ["query"])

    r = await s.call_tool("search", {"query": "when do the heron eggs hatch", "limit": 3})
    passages = r.structured_content["passages"]
    check(f"{how}: search finds the heron page", not r.is_error and os.path.basename(passages[0]["path"]) == "field-guide.pdf"
          and passages[0]["page"] is not None, passages[:1])

    progress = []

    async def on_progress(done, total, message):
        progress.append((done, total, message))

    r = await s.call_tool("ask", {"question": "When do the heron eggs hatch?"}, progress_callback=on_progress)
    a = r.structured_content
    cited = [os.path.basename(c["path"]) for c in a["citations"]]
    check(f"{how}: ask answers with a citation of the field guide and its page", not r.is_error and not a["not_found"]
          and "field-guide.pdf" in cited and all(c["page"] for c in a["citations"] if c["path"].endswith(".pdf")), a)
    check(f"{how}: ask reports progress", len(progress) >= 2 and progress[0][1] == 3.0, progress)

    # the same on real third-party documents (PostgreSQL's manual pages, as HTML)
    r = await s.call_tool("search", {"query": "how do I restore a database from a pg_dump archive", "limit": 3})
    top = r.structured_content["passages"][0]
    check(f"{how}: search finds PostgreSQL's page on SQL dumps", not r.is_error and os.path.basename(top["path"]) == "backup-dump.html"
          and "Dump" in (top["heading"] or ""), top)
    r = await s.call_tool("ask", {"question": "Which file controls client authentication in PostgreSQL?"})
    a = r.structured_content
    cited = [os.path.basename(c["path"]) for c in a["citations"]]
    check(f"{how}: ask answers from PostgreSQL's page and cites it", not r.is_error and not a["not_found"]
          and "pg_hba.conf" in a["answer"] and "auth-pg-hba-conf.html" in cited, a)

    docs = (await s.call_tool("list_documents", {})).structured_content["documents"]
    check(f"{how}: list_documents", len(docs) == DOCS, docs)
    cols = await s.call_tool("list_collections", {})
    check(f"{how}: list_collections", not cols.is_error and cols.structured_content["collections"] == [], cols)

    guide = next(d["path"] for d in docs if d["path"].endswith("field-guide.pdf"))
    page = await s.call_tool("read_page", {"path": guide, "page": 1})
    check(f"{how}: read_page gives a page of an indexed document", not page.is_error and len(page.structured_content["text"]) > 100)
    outside = await s.call_tool("read_page", {"path": "/etc/passwd"})
    check(f"{how}: read_page refuses what is not in the library", outside.is_error
          and outside.content[0].text.startswith("[invalid_request]") and "not in the library" in outside.content[0].text,
          outside.content)

    resources = (await s.list_resources()).resources
    check(f"{how}: every document is a resource", len(resources) == DOCS and all(str(r.uri).startswith("hearth://doc/") for r in resources),
          resources[:2])
    guide_uri = next(str(r.uri) for r in resources if str(r.uri).endswith("field-guide.pdf"))
    read = await s.read_resource(f"{guide_uri}?page=2")
    check(f"{how}: a resource's page reads as text", len(read.contents[0].text) > 100 and read.contents[0].text != page.structured_content["text"],
          read.contents[:1])
    templates = (await s.list_resource_templates()).resource_templates
    check(f"{how}: pages have a URI template", templates and templates[0].uri_template == "hearth://doc{+path}{?page}", templates)

    bad = await s.call_tool("search", {"query": "herons", "limit": 0})
    check(f"{how}: a bad value is a tool error with the engine's code", bad.is_error and bad.content[0].text.startswith("[invalid_request]"),
          bad.content)
    try:
        await s.call_tool("search", {"limit": 3})
        check(f"{how}: a missing argument is refused", False, "no error")
    except MCPError as e:
        check(f"{how}: a missing argument is refused", e.error.code == -32602 and "query" in e.error.message, e.error)

    # a call the client gives up on is cancelled on the server, which goes on serving
    with anyio.move_on_after(0.5):
        await s.call_tool("ask", {"question": "Tell me everything the documents say about herons, their eggs, nests and chicks."})
    for _ in range(100):
        if "cancelled by the client" in open(log).read():
            break
        await asyncio.sleep(0.1)
    check(f"{how}: a cancelled call is cancelled on the server", "cancelled by the client" in open(log).read(), open(log).read()[-500:])
    r = await s.call_tool("ask", {"question": "How many eggs does a heron lay?"})
    check(f"{how}: the server answers after a cancelled call", not r.is_error and r.structured_content["answer"], r.content)


async def stateless(c, how):
    """The same library through the stateless revision (2026-07-28): the client probes
    server/discover and every request carries its version; over HTTP the headers mirror it."""
    check(f"{how}: speaks 2026-07-28", c.protocol_version == "2026-07-28", c.protocol_version)
    check(f"{how}: results name the server", c.server_info is not None and c.server_info.name == "hearth", c.server_info)
    tools = {t.name for t in (await c.list_tools()).tools}
    check(f"{how}: five tools", tools == {"search", "ask", "list_documents", "read_page", "list_collections"}, tools)
    r = await c.call_tool("search", {"query": "how do I restore a database from a pg_dump archive", "limit": 3})
    top = r.structured_content["passages"][0]
    check(f"{how}: search finds PostgreSQL's page on SQL dumps", not r.is_error and os.path.basename(top["path"]) == "backup-dump.html", top)
    progress = []

    async def on_progress(done, total, message):
        progress.append(message)

    r = await c.call_tool("ask", {"question": "Which file controls client authentication in PostgreSQL?"}, progress_callback=on_progress)
    a = r.structured_content
    cited = [os.path.basename(c["path"]) for c in a["citations"]]
    check(f"{how}: ask cites PostgreSQL's page, with progress", not r.is_error and "pg_hba.conf" in a["answer"]
          and "auth-pg-hba-conf.html" in cited and len(progress) >= 2, (a, progress))
    resources = (await c.list_resources()).resources
    check(f"{how}: every document is a resource", len(resources) == DOCS, len(resources))
    page = await c.read_resource(str(resources[0].uri))
    check(f"{how}: a resource reads as text", len(page.contents[0].text) > 100, page.contents[:1])
    try:
        await c.call_tool("search", {"limit": 3})
        check(f"{how}: a missing argument is refused", False, "no error")
    except MCPError as e:
        check(f"{how}: a missing argument is refused", e.error.code == -32602, e.error)


async def main():
    params = StdioServerParameters(command=HEARTH, args=["--data-dir", DATA, "mcp"])
    with open(ERRLOG, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as s:
                await exercise(s, "stdio", ERRLOG)

    # Streamable HTTP: the token is required, then the same checks
    request = urllib.request.Request(URL, data=b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request)
        check("http: a missing token is refused", False, "no error")
    except urllib.error.HTTPError as e:
        check("http: a missing token is refused", e.code == 401, e.code)
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    async with http:
        async with streamable_http_client(URL, http_client=http) as (read, write):
            async with ClientSession(read, write) as s:
                await exercise(s, "http", SERVE_LOG)

    async with Client(params, mode="auto") as c:
        await stateless(c, "stdio 2026-07-28")
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    async with http:
        async with Client(streamable_http_client(URL, http_client=http), mode="auto") as c:
            await stateless(c, "http 2026-07-28")


asyncio.run(main())
