"""footfall/__init__.py: the module-level functions, Segment-style, over one `Client`."""

from __future__ import annotations

import footfall
import pytest

from tests.conftest import Collector
from tests.sdk_python.helpers import (
    by_id,
    exported_until,
)


def test_module_level_functions_wrap_one_client(collector: Collector) -> None:
    footfall.reset()
    footfall.write_key, footfall.host = collector.server_key, collector.url
    try:
        assert footfall.track("u1", "Ping", message_id="mod-1")
        assert footfall.default_client() is footfall.default_client()
        footfall.flush()
        client = footfall.configure(collector.server_key, host=collector.url)
        assert footfall.default_client() is client
        assert footfall.identify("u1", {"plan": "pro"}, message_id="mod-2")
        footfall.shutdown()
        got = by_id(exported_until(collector, 2))
        assert set(got) == {"mod-1", "mod-2"}
    finally:
        footfall.write_key = footfall.host = None
        footfall.reset()


def test_module_level_functions_need_a_write_key() -> None:
    footfall.reset()
    with pytest.raises(ValueError, match="write_key"):
        footfall.track("u1", "Ping")
