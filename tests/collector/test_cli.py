"""The `footfall` command: switches, per-command help, read-only commands, file modes, the access log."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import httpx
import pytest

from collector import cli
from collector.config import Settings
from tests.collector.conftest import footfall, ids_of
from tests.conftest import Collector


def parsed(*argv: str) -> Settings:
    """What `footfall serve ARGV` would run with (click parses, load_settings builds), without serving."""
    ctx = cli.serve.make_context("serve", list(argv))
    flags, _ = cli.split_settings(ctx.params)
    return cli.build_settings(ctx.params.get("config_file"), flags)


def test_boolean_settings_are_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FOOTFALL_")]:
        monkeypatch.delenv(name)
    assert parsed().sync_commits is False and parsed().enrich is True
    assert parsed("--sync-commits").sync_commits is True
    assert parsed("--no-enrich").enrich is False
    monkeypatch.setenv("FOOTFALL_SYNC_COMMITS", "true")
    assert parsed("--no-sync-commits").sync_commits is False  # the flag beats the environment
    assert parsed().sync_commits is True
    with pytest.raises(click.UsageError):
        parsed("--sync-commits", "yes")  # a switch takes no value: "yes" is an unexpected argument


def test_a_bad_boolean_names_the_values_it_takes() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")} | {"FOOTFALL_ENRICH": "maybe"}
    bad = subprocess.run([sys.executable, "-m", "collector", "serve"], capture_output=True, text=True, env=env,
                         timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "not a boolean (use true or false" in bad.stderr
    assert "''" not in bad.stderr and ", ," not in bad.stderr and "values: ," not in bad.stderr


def test_each_command_shows_only_the_settings_it_uses() -> None:
    export = footfall("export", "--help").stdout
    assert "--export-token" in export and "--data-dir" in export and "--geoip-db" not in export
    assert "to listen on" not in export and "running collector to connect to" in export
    erase = footfall("erase", "--help").stdout
    assert "--cookie-secret" not in erase and "to connect to" in erase
    expire = footfall("expire", "--help").stdout
    assert "--anonymous-retention-days" in expire and "--db" in expire and "--write-key" not in expire
    serve = footfall("serve", "--help").stdout
    assert "--sync-commits / --no-sync-commits" in serve and "to listen on" in serve


def test_every_flag_is_described_and_no_summary_is_cut_off() -> None:
    for name, command in cli.main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"footfall {name} {param.opts[0]} has no description"
    overview = footfall("--help").stdout
    commands = overview.split("Commands:")[1].strip().splitlines()
    assert len(commands) == len(cli.main.commands)
    assert not [line for line in commands if line.rstrip().endswith("...")], overview


def test_expire_dry_run_on_a_wrong_data_dir_creates_nothing(tmp_path: Path) -> None:
    wrong = tmp_path / "typo"
    for args in (["--dry-run"], []):
        r = footfall("expire", "--data-dir", str(wrong), *args)
        assert r.returncode == 1, r
        assert f"no database at {wrong / 'footfall.db'}" in r.stderr
    assert not wrong.exists()


def test_client_commands_on_a_wrong_data_dir_make_no_secrets(tmp_path: Path) -> None:
    wrong = tmp_path / "typo"
    for command in (["export"], ["erase", "someone"]):
        r = footfall(*command, "--data-dir", str(wrong), "--port", "9")
        assert r.returncode == 2 and "No export token" in r.stderr, r
    assert not wrong.exists()


def test_data_dir_and_database_files_are_owner_only(collector_factory: Any, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    c = collector_factory("--data-dir", str(fresh))
    c.send([{"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}}])
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    files = sorted(p.name for p in fresh.iterdir())
    assert {"footfall.db", "footfall.db-wal", "footfall.db-shm"} <= set(files), files
    for name in ("footfall.db", "footfall.db-wal", "footfall.db-shm"):
        assert stat.S_IMODE((fresh / name).stat().st_mode) == 0o600, name


def test_the_access_log_never_writes_a_write_key(collector_factory: Any) -> None:
    c: Collector = collector_factory("--access-log")
    r = httpx.post(f"{c.url}/v1/track?writeKey={c.write_key}&x=1", content=b'{"event":"E","userId":"u"}')
    assert r.status_code == 200, r.text
    c.send([{"type": "track", "event": "sentinel", "userId": "u"}])  # logged after the request above
    log = c.log()
    assert re.search(r"POST /v1/track\?writeKey=\[redacted\]&x=1 ", log), log
    requests = [line for line in log.splitlines() if '"POST ' in line]
    assert len(requests) == 2 and not [line for line in requests if c.write_key in line], requests


def test_token_prints_the_export_token_and_creates_nothing(tmp_path: Path) -> None:
    made = Settings(data_dir=tmp_path / "data").with_secrets()
    r = footfall("token", "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 0 and r.stdout == made.export_token + "\n"
    wrong = footfall("token", "--data-dir", str(tmp_path / "typo"))
    assert wrong.returncode == 2 and "No export token" in wrong.stderr and not (tmp_path / "typo").exists()


def test_erase_command(collector: Collector) -> None:
    """`footfall erase` asks the running collector, with the export token from the settings."""
    collector.send([{"type": "track", "event": "x", "userId": "hank", "messageId": "h1"},
                    {"type": "track", "event": "x", "userId": "ivy", "messageId": "i1"}])  # fmt: skip
    done = footfall("erase", "hank", "--data-dir", str(collector.data_dir), "--port", str(collector.port),
                    "--export-token", collector.export_token, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("erased hank: 1 messages") and ids_of(collector) == {"i1"}
