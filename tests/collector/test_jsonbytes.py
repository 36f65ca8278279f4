"""Why bytes are not JSON: the non-UTF-8 position is found by decoding, whatever the JSON library raised."""

from __future__ import annotations

from collector.jsonbytes import non_utf8_at, why_not_json


def test_the_first_non_utf8_byte_is_found_by_position() -> None:
    assert non_utf8_at(b'{"name":"M\xfcller"}') == 10
    assert non_utf8_at('{"name":"Müller"}'.encode()) is None
    assert non_utf8_at(b"\xe2\x82") == 0  # a truncated sequence


def test_the_reason_names_the_byte_whatever_the_library_raised() -> None:
    any_error = ValueError("Invalid UTF-8 encoded string")  # the wording of one msgspec release
    assert why_not_json(b'{"a":"\xff"}', any_error) == "byte 6 is not UTF-8 (JSON must be UTF-8)"
    assert why_not_json(b'{"a":"\xff"}', any_error, " of the message") == (
        "byte 6 of the message is not UTF-8 (JSON must be UTF-8)"
    )
    assert why_not_json(b'{"a":', ValueError("truncated")) == "truncated"
