"""The built tracker: within its size budget, and rebuilt from the committed source."""

from __future__ import annotations

import gzip
import json
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import Collector

ROOT = Path(__file__).parents[2]
SDK = ROOT / "sdk_js"
BUILT = ROOT / "collector" / "static" / "footfall.js"
OUTFILE = "--outfile=../collector/static/footfall.js"
BUDGET = 2500  # bytes, gzip -9


def test_size_budget() -> None:
    size = len(gzip.compress(BUILT.read_bytes(), compresslevel=9, mtime=0))
    assert size <= BUDGET, f"{BUILT.name} is {size} bytes gzipped; the budget is {BUDGET}"


def test_built_file_is_fresh(tmp_path: Path) -> None:
    """The committed build is what `npm run build` makes from the committed source."""
    esbuild = SDK / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        pytest.fail("esbuild is not installed: run `npm ci` in sdk_js/ (it is pinned in package-lock.json)")
    script = json.loads((SDK / "package.json").read_text())["scripts"]["build"]
    args = shlex.split(script)
    assert args[0] == "esbuild" and OUTFILE in args, script
    out = tmp_path / "footfall.js"
    args = [str(esbuild), *(f"--outfile={out}" if a == OUTFILE else a for a in args[1:])]
    subprocess.run(args, cwd=SDK, check=True, capture_output=True, timeout=60)
    stale = "collector/static/footfall.js is stale: run `npm run build` in sdk_js/"
    assert out.read_bytes() == BUILT.read_bytes(), stale


def test_the_collector_serves_the_built_file(collector: Collector) -> None:
    r = httpx.get(collector.url + "/footfall.js")
    assert r.status_code == 200 and r.content == BUILT.read_bytes()
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    assert r.headers["content-type"].startswith("application/javascript")
    again = httpx.get(collector.url + "/footfall.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
