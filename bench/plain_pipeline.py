#!/usr/bin/env python3
"""The plain Python ingest pipeline a newcomer writes in an afternoon, as Hearth's yardstick.

pypdf (PDF pages) / BeautifulSoup (HTML) / plain reads (txt, md) -> 200-word chunks ->
sentence-transformers (all-MiniLM-L6-v2 in fp32 on torch, normalised vectors) -> a LanceDB table.
Prints one JSON line: files, pages, chunks, words, wall and CPU seconds (user + system), peak
resident memory.

Usage: plain_pipeline.py FOLDER MODEL_DIR OUT_DIR
  MODEL_DIR: a folder with config.json, tokenizer.json and model.safetensors
  (Hearth's <models dir>/all-minilm-l6-v2).
Set up by bench/setup_plain_pipeline.sh (a venv from PyPI).
"""
import json
import os
import resource
import sys
import time

CHUNK_WORDS = 200
BATCH = 32


def texts_of(path):
    """The page texts of one file (one text for unpaged files)."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".pdf":
        from pypdf import PdfReader

        return [page.extract_text() or "" for page in PdfReader(path).pages]
    if ext in (".html", ".htm", ".xhtml"):
        from bs4 import BeautifulSoup

        with open(path, "rb") as f:
            return [BeautifulSoup(f.read(), "html.parser").get_text(" ")]
    if ext in (".txt", ".md", ".markdown", ".rst"):
        with open(path, encoding="utf-8", errors="replace") as f:
            return [f.read()]
    return []


def main():
    folder, model_dir, out_dir = sys.argv[1:4]
    start = time.time()
    from sentence_transformers import SentenceTransformer
    import lancedb
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = 256
    loaded = time.time()
    files = pages = words = 0
    rows = []
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            path = os.path.join(root, name)
            try:
                texts = texts_of(path)
            except Exception as e:  # a bad file fails that file only
                print(f"skip {path}: {e}", file=sys.stderr)
                continue
            if not texts:
                continue
            files += 1
            for page_no, text in enumerate(texts, 1):
                pages += 1
                w = text.split()
                words += len(w)
                for i in range(0, len(w), CHUNK_WORDS):
                    rows.append({"path": path, "page": page_no, "text": " ".join(w[i : i + CHUNK_WORDS])})
    vectors = model.encode(
        [r["text"] for r in rows], batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True
    )
    for r, v in zip(rows, vectors):
        r["vector"] = v.tolist()
    db = lancedb.connect(out_dir)
    if rows:
        db.create_table("chunks", data=rows, mode="overwrite")
    wall = time.time() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "files": files,
                "pages": pages,
                "chunks": len(rows),
                "words": words,
                "wall_s": round(wall, 2),
                "load_s": round(loaded - start, 2),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                "peak_rss_bytes": usage.ru_maxrss * 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
