"""Settings: one typed object from defaults, file, environment and flags; secrets made once; files owner-only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

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
        ({"FOOTFALL_COOKIE_SAMESITE": "none"}, "'allowed_origins' is empty"),  # found in review
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
                         env={**os.environ, "COLUMNS": "200"}, check=True, timeout=60).stdout  # fmt: skip
    for name in Settings.__dataclass_fields__:
        assert f"--{name.replace('_', '-')}" in out
        assert f"FOOTFALL_{name.upper()}" in out


def test_bad_flag_value_is_a_usage_error(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "collector", "serve", "--data-dir", str(tmp_path),
                        "--trusted-proxies", "nonsense"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "Setting 'trusted_proxies' has value 'nonsense'" in r.stderr


def test_data_dir_and_database_files_are_owner_only(collector_factory: Any, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    c = collector_factory("--data-dir", str(fresh))
    c.send([{"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}}])
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    files = sorted(p.name for p in fresh.iterdir())
    assert {"footfall.db", "footfall.db-wal", "footfall.db-shm"} <= set(files), files
    for name in ("footfall.db", "footfall.db-wal", "footfall.db-shm"):
        assert stat.S_IMODE((fresh / name).stat().st_mode) == 0o600, name


@pytest.mark.parametrize("name", ["server_key", "export_token", "cookie_secret"])
def test_a_short_secret_is_refused_with_its_name(name: str) -> None:
    """Found in review: `--export-token x` was taken, and guessed in a few tries."""
    with pytest.raises(ConfigError, match=f"'{name}' is 5 characters long: a secret needs at least 16"):
        load_settings(environ={}, **{name: "short"})
    if name == "cookie_secret":  # every secret of a rotation list counts
        with pytest.raises(ConfigError, match="'cookie_secret' is 5 characters"):
            load_settings(environ={}, **{name: "long-enough-secret-1,short"})
    load_settings(environ={}, **{name: "x" * 16})  # 16 will do
    load_settings(environ={}, write_key="wk")  # the write key is public: no minimum
