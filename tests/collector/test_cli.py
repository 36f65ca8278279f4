"""The `footfall` command: switches, per-command help, read-only commands, the first-run banner, `erase`.

(`footfall export` is in test_export_client.py, `footfall expire` in test_retention.py.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import click
import pytest

from collector import cli
from collector.config import Settings
from tests.collector.conftest import footfall, ids_of
from tests.conftest import Collector, free_port


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


def run_briefly(data_dir: Path, *args: str, terminal: bool = False) -> str:
    """What `footfall serve` prints until it is up, on a terminal (a pty) or into a pipe; then stop it."""
    import pty

    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    cmd = [sys.executable, "-m", "collector", "serve", "--data-dir", str(data_dir), "--port", str(free_port()), *args]
    if terminal:
        reader_fd, writer_fd = pty.openpty()
        proc = subprocess.Popen(cmd, stderr=writer_fd, stdout=writer_fd, env=env)
        os.close(writer_fd)
        stream = os.fdopen(reader_fd, "r", errors="replace")
    else:
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env, text=True)
        assert proc.stderr is not None
        stream = proc.stderr
    lines = []
    deadline = threading.Timer(60, proc.kill)  # a collector that never starts ends the loop below
    deadline.start()
    try:
        for line in stream:
            lines.append(line)
            if "Application startup complete" in line:
                break
    finally:
        deadline.cancel()
        proc.terminate()
        proc.wait(timeout=10)
        stream.close()
    return "".join(lines)


def test_first_run_prints_snippet_and_secrets_once(tmp_path: Path) -> None:
    first = run_briefly(tmp_path, terminal=True)
    secrets = Settings(data_dir=tmp_path).with_secrets()
    assert f'data-write-key="{secrets.write_key}"' in first and secrets.export_token in first
    second = run_briefly(tmp_path, terminal=True)
    assert secrets.write_key in second and secrets.export_token not in second and secrets.server_key not in second


def test_given_keys_are_not_joined_by_unused_generated_ones(tmp_path: Path) -> None:
    import json

    run_briefly(
        tmp_path, "--write-key", "wk_mine", "--server-key", "sk_mine_0123456789", "--export-token", "ex_mine_0123456789"
    )
    assert json.loads((tmp_path / "secrets.json").read_text()).keys() == {"cookie_secret"}


def test_secrets_are_never_printed_into_a_log_stream(tmp_path: Path) -> None:
    logged = run_briefly(tmp_path)  # stderr is a pipe, as under a service manager
    secrets = Settings(data_dir=tmp_path).with_secrets()
    assert (
        secrets.export_token not in logged and secrets.server_key not in logged and secrets.cookie_secret not in logged
    )
    assert f'data-write-key="{secrets.write_key}"' in logged  # the browser key is public: the snippet shows it
    assert "shown on a terminal only" in logged


def test_demo_starts_a_collector_and_the_shop_and_cleans_up(tmp_path: Path) -> None:
    import signal

    import httpx

    port, site_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    root = Path(__file__).resolve().parents[2]
    # As from a terminal, where Ctrl-C reaches it: a test run started in the background of a script has SIGINT
    # ignored, and so would the demo (found when this test failed, every time, in such a run).
    as_at_a_terminal = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from collector.cli import main; main()"
    )
    proc = subprocess.Popen([sys.executable, "-c", as_at_a_terminal, "demo", "--port", str(port), "--site-port",
                             str(site_port)], stdout=subprocess.PIPE, text=True, env=env, cwd=root)  # fmt: skip
    timer = threading.Timer(60, proc.kill)  # the deadline for the lines below
    timer.start()
    try:
        assert proc.stdout is not None
        printed = ""
        while "Ctrl-C stops" not in printed:
            line = proc.stdout.readline()
            assert line, printed
            printed += line
        token = re.search(r"export token: (\S+)", printed).group(1)  # type: ignore[union-attr]
        data_dir = Path(re.search(r"data in (\S+),", printed).group(1))  # type: ignore[union-attr]
        shop = httpx.get(f"http://127.0.0.1:{site_port}/", timeout=10)
        assert shop.status_code == 200 and f"http://localhost:{port}" in shop.text and "data-write-key" in shop.text
        signed_in = httpx.post(f"http://127.0.0.1:{port}/live/login", data={"token": token}, timeout=10)
        assert signed_in.status_code == 303
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert not data_dir.exists()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
