"""A shop's backend that records its orders with the Footfall Python SDK, in the browser's profile.

    python examples/backend_service/app.py --collector http://127.0.0.1:8000 --data-dir footfall-data

The page it serves carries the Footfall snippet (page views and clicks, sent by the browser with the
public browser key). When the visitor orders, the page hands the tracker's anonymousId to this backend
along with the order; the backend records `Order Completed` with the secret **server** key, naming both
the customer (`userId`) and that anonymousId. The collector links the two, so the browser's page views
and the server's order make one profile. Keys are read from the collector's data directory
(`secrets.json`) unless `--write-key`/`--server-key` are given. Needs starlette, uvicorn and the SDK
(`pip install ./sdk_python`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import footfall
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger("shop")

# The prices are the server's: an order's total is never taken from the browser.
CATALOGUE = {
    "mug": ("Footfall mug", Decimal("12.50")),
    "tee": ("Footfall T-shirt", Decimal("25.00")),
}
CURRENCY = "EUR"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Footprints shop</title>
  <script async src="{collector}/footfall.js" data-host="{collector}" data-write-key="{write_key}"></script>
</head>
<body>
  <h1>Footprints shop</h1>
  <form id="order">
    <p><label>Customer ID (as if signed in) <input name="customer" required></label></p>
    <p><label>Mugs at 12.50 EUR <input name="mug" type="number" min="0" value="1"></label></p>
    <p><label>T-shirts at 25.00 EUR <input name="tee" type="number" min="0" value="0"></label></p>
    <p><button type="submit">Place order</button></p>
  </form>
  <p id="result"></p>
  <script>
    // The tracker's anonymousId, as it keeps it: in this site's localStorage (`ff_aid`), or in this
    // site's cookie of the same name where localStorage is blocked.
    function footfallAnonymousId() {{
      try {{
        var stored = localStorage.getItem('ff_aid');
        if (stored) return stored;
      }} catch (error) {{}}
      var cookie = document.cookie.match(/(?:^|; )ff_aid=([^;]+)/);
      return cookie ? cookie[1] : null;
    }}
    document.getElementById('order').addEventListener('submit', function (event) {{
      event.preventDefault();
      var form = new FormData(event.target);
      var items = ['mug', 'tee']
        .map(function (id) {{ return {{ product_id: id, quantity: Number(form.get(id)) }}; }})
        .filter(function (item) {{ return item.quantity > 0; }});
      fetch('/checkout', {{
        method: 'POST',
        headers: {{ 'Content-Type': 'application/json' }},
        body: JSON.stringify({{ customer: form.get('customer'), items: items, anonymousId: footfallAnonymousId() }}),
      }})
        .then(function (response) {{ return response.json(); }})
        .then(function (answer) {{
          document.getElementById('result').textContent = answer.order_id
            ? 'Thank you! Order ' + answer.order_id + ', ' + answer.total + ' ' + answer.currency + '.'
            : 'Sorry: ' + answer.error;
        }});
    }});
  </script>
</body>
</html>
"""


def create_app(collector: str, write_key: str, server_key: str) -> Starlette:
    page = PAGE.format(collector=collector, write_key=write_key)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # One SDK client for the whole service; shutting it down sends what is still queued.
        async with footfall.AsyncClient(server_key, host=collector, on_error=report) as client:
            app.state.footfall = client
            yield

    async def home(request: Request) -> Response:
        return HTMLResponse(page)

    async def checkout(request: Request) -> Response:
        try:
            body = await request.json()
            customer = str(body["customer"]).strip()
            products = [order_line(item["product_id"], int(item["quantity"])) for item in body["items"]]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "an order is {customer, items: [{product_id, quantity}]}"}, 400)
        if not customer or not products or any(p["quantity"] < 1 for p in products):
            return JSONResponse({"error": "a customer and at least one item, please"}, 400)
        total = sum(CATALOGUE[p["product_id"]][1] * p["quantity"] for p in products)
        order_id = "o-" + uuid.uuid4().hex[:12]
        # ... here a real shop takes the payment and stores the order; then it records it, naming the
        # customer and the browser (None when the tracker did not run there: blocked, or opted out).
        request.app.state.footfall.purchase(
            customer,
            order_id=order_id,
            total=float(total),
            currency=CURRENCY,
            products=products,
            anonymous_id=body.get("anonymousId") or None,
            context=visitor_context(request),
        )
        return JSONResponse({"order_id": order_id, "total": f"{total:.2f}", "currency": CURRENCY})

    return Starlette(routes=[Route("/", home), Route("/checkout", checkout, methods=["POST"])], lifespan=lifespan)


def order_line(product_id: str, quantity: int) -> dict[str, Any]:
    """A product of an order, as Segment's e-commerce spec has it, priced by the server."""
    name, price = CATALOGUE[product_id]
    return {
        "product_id": product_id,
        "sku": product_id.upper() + "-1",
        "name": name,
        "price": float(price),
        "quantity": quantity,
    }


def visitor_context(request: Request) -> dict[str, str]:
    """The visitor's address and browser: a server key may say them (otherwise none are recorded, since
    the request to the collector comes from this backend). Behind a proxy, take the address it forwards."""
    context = {"userAgent": request.headers.get("user-agent", "")}
    if request.client:
        context["ip"] = request.client.host
    return {name: value for name, value in context.items() if value}


def report(error: Exception, messages: list[dict[str, Any]]) -> None:
    """Messages the collector will not store (called on the SDK's sender)."""
    log.error("footfall: %d message(s) not stored: %s", len(messages), error)


def keys_from(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    try:
        secrets: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        sys.exit(f"no keys given, and {path} is not readable ({error}): run `footfall serve` first")
    return secrets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collector", default="http://127.0.0.1:8000", help="the collector's base URL")
    parser.add_argument("--write-key", help="the browser write key, for the page (default: from --data-dir)")
    parser.add_argument("--server-key", help="the server write key, for the SDK (default: from --data-dir)")
    parser.add_argument("--data-dir", type=Path, default=Path("footfall-data"), help="the collector's data directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line for every batch the SDK sends
    stored = {} if args.write_key and args.server_key else keys_from(args.data_dir)
    write_key = args.write_key or stored["write_key"]
    server_key = args.server_key or stored["server_key"]
    app = create_app(args.collector.rstrip("/"), write_key, server_key)
    print(f"the shop: http://localhost:{args.port}/ (sending to {args.collector})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
