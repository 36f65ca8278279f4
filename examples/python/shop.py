"""A tiny shop backend that reports what happens in it to Footfall, with the Python SDK.

Run a collector and this script beside it:

    footfall serve                      # prints the server write key (sk_...)
    pip install ./sdk_python
    FOOTFALL_SERVER_KEY=sk_... python examples/python/shop.py

It signs a user up, records a page view, an order and a failed call, then exits: the SDK flushes its
queue at interpreter exit, so nothing needs to be flushed by hand. Pull what arrived with
`footfall export` (or GET /v1/export with the export token).
"""

from __future__ import annotations

import logging
import os
import uuid

import footfall

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")


def report(error: Exception, messages: list[dict[str, object]]) -> None:
    """Called on the SDK's sender thread for messages the collector will not store."""
    print(f"not stored ({len(messages)}): {error}")


client = footfall.Client(
    os.environ.get("FOOTFALL_SERVER_KEY", "sk_change_me"),
    host=os.environ.get("FOOTFALL_HOST", "http://127.0.0.1:8000"),
    on_error=report,
)

visitor = str(uuid.uuid4())  # the anonymous ID your frontend sent along (the JS tracker's anonymousId)
user = "user-1042"

client.page(
    anonymous_id=visitor, name="Pricing", properties={"path": "/pricing", "url": "https://shop.example/pricing"}
)
client.identify(user, {"email": "ada@example.com", "plan": "pro"}, anonymous_id=visitor)
client.track(user, "Signed Up", {"plan": "pro", "referrer": "newsletter"})
client.purchase(
    user,
    order_id="o-1001",
    total=59.90,
    currency="EUR",
    products=[{"product_id": "book-1", "sku": "B-1", "name": "Field Guide", "price": 29.95, "quantity": 2}],
)
# A bad call logs a warning and returns False; it never raises into your code.
assert client.track(user, "") is False
print("queued; the SDK sends it all before the interpreter exits")
