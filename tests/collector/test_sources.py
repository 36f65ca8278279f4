"""Sources: each write key a named source of a kind; keys made and revoked while collectors run."""

from __future__ import annotations

from typing import Any

import httpx

from collector.sources import key_hash
from tests.collector.conftest import footfall, wait_for
from tests.conftest import Collector


def keys(c: Collector, *args: str) -> Any:
    return footfall("keys", *args, "--data-dir", str(c.data_dir))


def post(c: Collector, key: str, origin: str | None = None) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    msg = {"type": "track", "event": "E", "userId": "u", "anonymousId": "a"}
    return httpx.post(c.url + "/v1/track", json=msg, auth=(key, ""), headers=headers, timeout=10)


def test_keys_made_and_revoked_while_the_collector_runs(collector: Collector) -> None:
    c = collector
    made = keys(c, "create", "shop-web", "--kind", "browser")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("wk_") and "shown this once" in made.stderr
    wait_for(lambda: post(c, key).status_code == 200, "the new key to work")
    listed = keys(c, "list")
    assert "shop-web\tbrowser\t" + key[:7] + "..." in listed.stdout and "in force" in listed.stdout
    assert key not in listed.stdout  # only a prefix is ever shown again
    assert keys(c, "create", "shop-web", "--kind", "server").returncode == 1  # the name is taken
    assert keys(c, "revoke", "shop-web").returncode == 0
    wait_for(lambda: post(c, key).status_code == 401, "the revoked key to be refused")
    assert "revoked" in keys(c, "list").stdout
    assert keys(c, "revoke", "shop-web").returncode == 1
    assert post(c, c.write_key).status_code == 200  # the default keys keep working
    assert c.send([{"type": "track", "event": "E", "userId": "u"}]).status_code == 200


def test_messages_record_their_source_and_export_filters_by_it(collector: Collector) -> None:
    c = collector
    backend = keys(c, "create", "billing", "--kind", "server").stdout.strip()
    assert backend.startswith("sk_")
    wait_for(lambda: c.send([{"type": "track", "event": "Ping", "userId": "u"}], key=backend).status_code == 200,
             "the new server key to work")  # fmt: skip
    c.send([{"type": "track", "event": "From default", "userId": "u", "messageId": "default-1"}])
    billing = c.export(source="billing")
    assert billing and {m["event"] for m in billing} == {"Ping"}
    assert [m["messageId"] for m in c.export(source="default-server")] == ["default-1"]
    assert c.export(source="nobody") == []


def test_a_browser_source_takes_its_own_origins_only(collector: Collector) -> None:
    c = collector
    key = keys(c, "create", "blog", "--kind", "browser", "--allowed-origins", "https://blog.example").stdout.strip()
    wait_for(lambda: post(c, key, "https://blog.example").status_code == 200, "the new key to work")
    refused = post(c, key, "https://evil.example")
    assert refused.status_code == 403 and "'blog'" in refused.json()["error"]
    assert post(c, c.write_key, "https://evil.example").status_code == 200  # the default key: any origin


def test_keys_on_a_wrong_data_dir_create_nothing(tmp_path: Any) -> None:
    r = footfall("keys", "create", "x", "--kind", "server", "--data-dir", str(tmp_path / "typo"))
    assert r.returncode == 1 and "no database" in r.stderr and not (tmp_path / "typo").exists()


def test_the_default_browser_key_can_be_revoked_and_a_new_one_works(collector_factory: Any, tmp_path: Any) -> None:
    """Found in review: the settings' browser key, printed in every page, could not be revoked."""
    data = tmp_path / "d"
    c: Collector = collector_factory(data_dir=data)
    new = keys(c, "create", "site-v2", "--kind", "browser").stdout.strip()
    revoked = footfall("keys", "revoke", "default-browser", "--data-dir", str(data), "--write-key", c.write_key)
    assert revoked.returncode == 0, revoked.stderr
    wait_for(lambda: post(c, c.write_key).status_code == 401, "the revoked default key to be refused")
    assert post(c, new).status_code == 200 and post(c, c.server_key).status_code == 200
    home = httpx.get(c.url + "/").text  # the page at / no longer offers the revoked key to paste
    assert c.write_key not in home and "default browser key is revoked" in home
    listed = keys(c, "list").stdout
    assert f"default-browser #{key_hash(c.write_key)[:12]}\tbrowser\t{c.write_key[:7]}..." in listed
    assert "revoked" in listed
    again = footfall("keys", "revoke", "default-browser", "--data-dir", str(data), "--write-key", c.write_key)
    assert again.returncode == 1 and "revoked already" in again.stderr
    c.stop()  # the revocation outlives a restart; a new key in the settings is in force
    same = collector_factory("--write-key", c.write_key, data_dir=data, port=c.port)
    assert post(same, c.write_key).status_code == 401
    same.stop()
    rotated = collector_factory("--write-key", "wk_a_new_browser_key", data_dir=data, port=c.port)
    assert post(rotated, "wk_a_new_browser_key").status_code == 200
