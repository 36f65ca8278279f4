"""Settings: one typed object from defaults, file, environment and flags; secrets made once."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from collector.config import ConfigError, Settings, load_settings


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    assert load_settings(environ={}).port == 8000
    cfg = tmp_path / "footfall.toml"
    cfg.write_text('port = 9000\nhost = "0.0.0.0"\ntrusted-proxies = ["10.0.0.0/8"]\nbots = "drop"\n')
    s = load_settings(config_file=cfg, environ={})
    assert (s.port, s.host, s.trusted_proxies, s.bots) == (9000, "0.0.0.0", ("10.0.0.0/8",), "drop")
    s = load_settings(config_file=cfg, environ={"FOOTFALL_PORT": "9100", "FOOTFALL_SYNC_COMMITS": "yes"})
    assert (s.port, s.host, s.sync_commits) == (9100, "0.0.0.0", True)
    s = load_settings(config_file=cfg, environ={"FOOTFALL_PORT": "9100"}, port=9200)
    assert s.port == 9200
    s = load_settings(environ={"FOOTFALL_CONFIG": str(cfg)})
    assert s.port == 9000


@pytest.mark.parametrize(
    ("environ", "text"),
    [
        ({"FOOTFALL_PORT": "eighty"}, "Setting 'port' has value 'eighty'"),
        ({"FOOTFALL_PORT": "70000"}, "not a TCP port"),
        ({"FOOTFALL_SYNC_COMMITS": "maybe"}, "not a boolean"),
        ({"FOOTFALL_COOKIE_SAMESITE": "loose"}, "choose one of lax, strict, none"),
        ({"FOOTFALL_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, "'proxy.local': not an IP"),
        ({"FOOTFALL_ALLOWED_ORIGINS": "https://shop.example/"}, "no path"),
        ({"FOOTFALL_ANONYMOUS_RETENTION_DAYS": "0"}, "must be >= 1"),
    ],
)
def test_errors_name_the_setting(environ: dict[str, str], text: str) -> None:
    with pytest.raises(ConfigError, match=text.replace("(", r"\(")):
        load_settings(environ=environ)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    cfg = tmp_path / "f.toml"
    cfg.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="Unknown setting 'prot'"):
        load_settings(config_file=cfg, environ={})


def test_secrets_are_made_once_and_private(tmp_path: Path) -> None:
    s1 = Settings(data_dir=tmp_path).with_secrets()
    s2 = Settings(data_dir=tmp_path).with_secrets()
    assert s1.write_key == s2.write_key and s1.export_token == s2.export_token and s1.cookie_secret
    assert len({s1.write_key, s1.server_key, s1.export_token, s1.cookie_secret}) == 4
    assert stat.S_IMODE(os.stat(tmp_path / "secrets.json").st_mode) == 0o600
    given = Settings(data_dir=tmp_path, write_key="mine").with_secrets()
    assert given.write_key == "mine" and given.export_token == s1.export_token


def test_every_setting_is_a_flag_with_its_env_name() -> None:
    out = subprocess.run([sys.executable, "-m", "collector", "serve", "--help"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200"}, check=True).stdout  # fmt: skip
    for name in Settings.__dataclass_fields__:
        assert f"--{name.replace('_', '-')}" in out
        assert f"FOOTFALL_{name.upper()}" in out


def test_bad_flag_value_is_a_usage_error(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "collector", "serve", "--data-dir", str(tmp_path),
                        "--trusted-proxies", "nonsense"], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "Setting 'trusted_proxies' has value 'nonsense'" in r.stderr


def run_briefly(data_dir: Path, *args: str, terminal: bool = False) -> str:
    """What `footfall serve` prints until it is up, on a terminal (a pty) or into a pipe; then stop it."""
    import pty

    from tests.conftest import free_port

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
    try:
        for line in stream:
            lines.append(line)
            if "Application startup complete" in line:
                break
    finally:
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


def test_secrets_are_never_printed_into_a_log_stream(tmp_path: Path) -> None:
    logged = run_briefly(tmp_path)  # stderr is a pipe, as under a service manager
    secrets = Settings(data_dir=tmp_path).with_secrets()
    assert (
        secrets.export_token not in logged and secrets.server_key not in logged and secrets.cookie_secret not in logged
    )
    assert f'data-write-key="{secrets.write_key}"' in logged  # the browser key is public: the snippet shows it
    assert "shown on a terminal only" in logged


def test_given_keys_are_not_joined_by_unused_generated_ones(tmp_path: Path) -> None:
    import json

    run_briefly(tmp_path, "--write-key", "wk_mine", "--server-key", "sk_mine", "--export-token", "ex_mine")
    assert json.loads((tmp_path / "secrets.json").read_text()).keys() == {"cookie_secret"}
