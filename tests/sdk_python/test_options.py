"""footfall/options.py: options are declared once, passed by keyword and checked at construction."""

from __future__ import annotations

from typing import Any

import footfall
import pytest
from footfall.options import Options


@pytest.mark.parametrize(
    "kwargs",
    [
        {"write_key": None},
        {"write_key": ""},
        {"write_key": "sk", "host": "localhost:8000"},
        {"write_key": "sk", "max_queue_size": 0},
        {"write_key": "sk", "flush_at": "10"},
        {"write_key": "sk", "timeout": -1},
        {"write_key": "sk", "on_error": "print"},
        {"write_key": "sk", "gzip": "yes"},
    ],
)
def test_bad_options_raise_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        footfall.Client(**kwargs)


def test_options_are_taken_by_keyword_only() -> None:
    with pytest.raises(TypeError):
        Options("sk", "http://127.0.0.1:8000")  # type: ignore[misc]  # a positional pass could swap two values
    with pytest.raises(TypeError, match="flush_att"):
        footfall.Client("sk", flush_att=10)  # a misspelt option is not silently ignored
    with pytest.raises(TypeError):
        footfall.Client("sk", "http://127.0.0.1:8000", None)  # type: ignore[misc]


def test_segments_names_and_the_defaults() -> None:
    client = footfall.Client("sk", host="http://c.test/", upload_size=7, upload_interval=2, send=False)
    assert (client.opts.flush_at, client.opts.flush_interval, client.opts.host) == (7, 2, "http://c.test")
    assert footfall.Client("sk", send=False).opts == Options(write_key="sk", send=False)


def test_async_client_refuses_the_thread_only_options() -> None:
    for name in ("sync_mode", "flush_at_exit"):
        with pytest.raises(TypeError, match=name):
            footfall.AsyncClient("sk", **{name: True})
