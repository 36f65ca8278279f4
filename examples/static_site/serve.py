"""Serve the example shop in `site/`, with the Footfall snippet filled in for your collector.

    python examples/static_site/serve.py --collector http://127.0.0.1:8000 --write-key wk_...

Without `--write-key` it reads the browser write key from the collector's data directory
(`--data-dir`, `footfall-data` by default: where `footfall serve` keeps `secrets.json`). Then open
http://localhost:8080/ (or `--port`). Only the standard library is needed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SITE = Path(__file__).resolve().parent / "site"


def browser_write_key(data_dir: Path) -> str:
    secrets = data_dir / "secrets.json"
    try:
        return str(json.loads(secrets.read_text())["write_key"])
    except (OSError, ValueError, KeyError) as error:
        sys.exit(f"no --write-key given, and none readable in {secrets} ({error}): run `footfall serve` first")


def handler(collector: str, write_key: str) -> type[SimpleHTTPRequestHandler]:
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(SITE), **kwargs)

        def do_GET(self) -> None:
            path = self.path.split("?")[0].split("#")[0]
            file = SITE / (path.lstrip("/") or "index.html")
            if file.suffix != ".html" or not file.is_file() or file.parent != SITE:
                super().do_GET()  # shop.js, and the 404s
                return
            # The snippet in each page, as `footfall serve` prints it, with this collector and key.
            html = file.read_text().replace("{{COLLECTOR}}", collector).replace("{{WRITE_KEY}}", write_key)
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collector", default="http://127.0.0.1:8000", help="the collector's base URL")
    parser.add_argument("--write-key", help="the collector's browser write key (default: from --data-dir)")
    parser.add_argument("--data-dir", type=Path, default=Path("footfall-data"), help="the collector's data directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    write_key = args.write_key or browser_write_key(args.data_dir)
    server = ThreadingHTTPServer((args.host, args.port), handler(args.collector.rstrip("/"), write_key))
    print(f"the shop: http://localhost:{server.server_address[1]}/ (sending to {args.collector})", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
