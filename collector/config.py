"""One typed settings object for the collector and its commands.

Each field of `Settings` is at the same time a CLI flag (`--anonymous-retention-days`), an environment
variable (`FOOTFALL_ANONYMOUS_RETENTION_DAYS`) and a key in an optional TOML file (`--config`).
Precedence, lowest first: the defaults below, the file, the environment, the flags.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import secrets
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ENV_PREFIX = "FOOTFALL_"
SECRETS_FILE = "secrets.json"
GENERATED = ("write_key", "server_key", "export_token", "cookie_secret")
SECRETS = ("server_key", "export_token", "cookie_secret")  # the write key is public: it is in every page
MIN_SECRET_LENGTH = 16

SameSite = Literal["lax", "strict", "none"]
BotPolicy = Literal["keep", "drop"]
IpPolicy = Literal["truncate", "keep", "drop"]


class ConfigError(ValueError):
    pass


def _help(text: str, **kw: Any) -> Any:
    return field(metadata={"help": text}, **kw)


@dataclass(frozen=True)
class Settings:
    host: str = _help("Address to listen on.", default="127.0.0.1")
    port: int = _help("Port to listen on.", default=8000)
    data_dir: Path = _help(
        "Directory for the SQLite database and the generated secrets.", default=Path("footfall-data")
    )
    db: str = _help(
        "Storage: a SQLite file path (or sqlite:///path), or a postgresql:// URL. Default: footfall.db in --data-dir.",
        default="",
    )
    write_key: str = _help(
        "Public write key for browsers (the tracker snippet). Generated on first run if not given.", default=""
    )
    server_key: str = _help(
        "Secret write key for backend services: their messages keep their own IDs and context.ip. "
        "Generated on first run if not given (at least 16 characters).",
        default="",
    )
    export_token: str = _help(
        "Bearer token for export, profiles and erasure. Generated on first run if not given (at least 16 characters).",
        default="",
    )
    cookie_secret: str = _help(
        "Secret(s) that sign the ID cookie, comma-separated for rotation (signs with the last), each at least "
        "16 characters. Generated on first run if not given.",
        default="",
    )
    cookie_name: str = _help("Name of the first-party ID cookie.", default="ff_id")
    cookie_domain: str = _help(
        "Domain attribute of the ID cookie (e.g. example.com to share it across subdomains).", default=""
    )
    cookie_samesite: SameSite = _help(
        "SameSite attribute of the ID cookie; 'none' (implies Secure) when the site and the collector "
        "are on different sites.",
        default="lax",
    )
    cookie_max_age_days: int = _help("Lifetime of the ID cookie, refreshed on every request.", default=365)
    allowed_origins: tuple[str, ...] = _help(
        "Comma-separated browser origins allowed to send (e.g. https://shop.example); empty allows any.",
        default=(),
    )
    geoip_db: Path | None = _help("MaxMind City or Country .mmdb file for locations.", default=None)
    trusted_proxies: tuple[str, ...] = _help(
        "Comma-separated proxy addresses or networks whose X-Forwarded-For/Forwarded headers are believed.",
        default=(),
    )
    ip_policy: IpPolicy = _help(
        "What is stored of the client IP: truncate (IPv4 /24, IPv6 /48), keep, or drop.", default="truncate"
    )
    enrich: bool = _help(
        "Add device, location, bot, campaign and referrer facts to messages (off: only the time fields).",
        default=True,
    )
    bots: BotPolicy = _help("Bot traffic: keep (flagged in context.bot) or drop (counted).", default="keep")
    anonymous_retention_days: int = _help(
        "Days after which messages of never-identified visitors are deleted.", default=90
    )
    expiry_interval_seconds: int = _help(
        "How often the running collector deletes expired anonymous messages (0: never).", default=3600
    )
    sync_commits: bool = _help(
        "fsync every group commit: acknowledged messages survive power loss, not only a process crash.",
        default=False,
    )
    rate_limit_per_ip: int = _help(
        "Tokens a second for one client address (an IPv6 /64) without a server key: a request costs one, and one "
        "more per 20 messages (0: no limit). Over it, 429 with Retry-After.",
        default=100,
    )
    rate_limit_per_ip_burst: int = _help(
        "Requests one client IP may send at once before the limit applies.", default=400
    )
    rate_limit_per_key: int = _help(
        "Tokens a second for each server key (a request costs one, and one more per 20 messages; never applied "
        "to a browser key, which is public) (0: no limit).",
        default=0,
    )
    rate_limit_per_key_burst: int = _help("Requests with one write key at once before the limit applies.", default=1000)
    max_header_bytes: int = _help(
        "Bytes a request's line and headers may take (over it: 431 and the connection closed).", default=16384
    )
    header_timeout_seconds: int = _help(
        "Seconds a request's line and headers may take to arrive (over it: 408 and the connection closed).",
        default=10,
    )
    max_connections: int = _help(
        "Connections served at once; requests beyond get 503 (0: no limit but the system's).", default=0
    )
    wal_limit_mb: int = _help(
        "SQLite: past this size the WAL is checkpointed between two commits and written again from its "
        "start, so it stays about this small under any steady load.",
        default=64,
    )
    max_pending_rows: int = _help(
        "Rows waiting for their commit beyond which new requests get 503 and Retry-After, so that memory does "
        "not grow while the store falls behind.",
        default=50_000,
    )
    metrics_port: int = _help(
        "Also serve /metrics without the export token on this port (0: only on the main port, with the token).",
        default=0,
    )
    metrics_host: str = _help("Address the metrics port listens on.", default="127.0.0.1")
    workers: str = _help(
        "Processes serving the port: a number, or auto (one per CPU this process may run on). They share the "
        "store, and expiry runs in one of them; rate limits, --max-connections, --max-pending-rows and the bound "
        "on live-view streams apply per process. With more than one (or auto), SIGHUP replaces them one by one.",
        default="1",
    )
    access_log: bool = _help("Log every HTTP request.", default=False)
    log_level: Literal["debug", "info", "warning", "error"] = _help("Log level.", default="info")
    log_format: Literal["text", "json"] = _help("Log lines as text, or as JSON objects (one a line).", default="text")

    # --- derived values -------------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        if not self.db:
            return f"sqlite:///{self.data_dir / 'footfall.db'}"
        if "://" in self.db:
            return self.db
        return f"sqlite:///{self.db}"

    @property
    def worker_count(self) -> int:
        """--workers as a number: auto is one process per core (of those this process may run on)."""
        if self.workers_auto:
            return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return int(self.workers)

    @property
    def workers_auto(self) -> bool:
        return self.workers.strip().lower() == "auto"

    @property
    def cookie_secrets(self) -> list[str]:
        return [s for s in self.cookie_secret.split(",") if s]

    @property
    def trusted_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies]

    def with_secrets(self) -> Settings:
        """Fill in the generated secrets kept in the data directory (creating them on first use)."""
        missing = [name for name in GENERATED if not getattr(self, name)]
        if not missing:
            return self
        stored = load_or_create_secrets(self.data_dir, missing)
        filled: dict[str, Any] = {name: stored[name] for name in missing}
        return dataclasses.replace(self, **filled)

    def with_export_token(self) -> Settings:
        """For commands that talk to a running collector: the export token given, or the one the collector
        keeps in the data directory. Creates nothing (a wrong --data-dir is an error, not new secrets)."""
        return self.with_kept("export_token")

    def with_kept(self, name: str) -> Settings:
        """The generated setting `name` as given, or as the collector keeps it in the data directory;
        creates nothing."""
        if getattr(self, name):
            return self
        label, given = name.replace("_", " "), f"--{name.replace('_', '-')} (or {ENV_PREFIX}{name.upper()})"
        path = self.data_dir / SECRETS_FILE
        try:
            value = json.loads(path.read_text()).get(name)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"No {label}: give {given}, or the collector's --data-dir "
                f"({path} cannot be read: {exc.strerror if isinstance(exc, OSError) else exc})."
            ) from None
        if not isinstance(value, str) or not value:
            raise ConfigError(f"No {label} in {path}: give {given}.")
        kept: dict[str, Any] = {name: value}
        return dataclasses.replace(self, **kept)


def _fields() -> list[dataclasses.Field[Any]]:
    return list(dataclasses.fields(Settings))


def field_type(f: dataclasses.Field[Any]) -> Any:
    hints = typing.get_type_hints(Settings)
    return hints[f.name]


def _strip_optional(tp: Any) -> Any:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def cast(name: str, raw: Any) -> Any:
    """Turn a value from a file, the environment or a flag into the field's type, naming the key on error."""
    f = next((f for f in _fields() if f.name == name), None)
    if f is None:
        raise ConfigError(f"Unknown setting '{name}'.")
    tp = field_type(f)
    base = _strip_optional(tp)
    if raw is None or (raw == "" and base is not str):
        return None if base is not tp else f.default
    try:
        if typing.get_origin(base) is Literal:
            value = str(raw).lower()
            if value not in typing.get_args(base):
                raise ValueError(f"choose one of {', '.join(typing.get_args(base))}")
            return value
        if base is bool:
            if isinstance(raw, bool):
                return raw
            value = str(raw).strip().lower()
            if value in ("1", "true", "yes", "on"):
                return True
            if value in ("0", "false", "no", "off"):
                return False
            raise ValueError("not a boolean (use true or false, yes or no, on or off, 1 or 0)")
        if base is int:
            if isinstance(raw, bool):
                raise ValueError("not an integer")
            return int(raw)
        if base is Path:
            return Path(raw)
        if typing.get_origin(base) is tuple:
            items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
            return tuple(str(i).strip() for i in items if str(i).strip())
        return str(raw)
    except ValueError as exc:
        raise ConfigError(f"Setting '{name}' has value {raw!r}: {exc}.") from None


def load_settings(
    *, config_file: Path | None = None, environ: typing.Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build Settings from defaults < TOML file < environment < explicit overrides (flags)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = config_file or (Path(environ[f"{ENV_PREFIX}CONFIG"]) if f"{ENV_PREFIX}CONFIG" in environ else None)
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"Cannot read config file {config_file}: {exc}") from None
        for key, raw in data.items():
            values[key.replace("-", "_")] = cast(key.replace("-", "_"), raw)
    for f in _fields():
        env_name = ENV_PREFIX + f.name.upper()
        if env_name in environ:
            values[f.name] = cast(f.name, environ[env_name])
    for key, raw in overrides.items():
        if raw is not None:
            values[key] = cast(key, raw)
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    if not 0 <= s.port <= 65535:
        raise ConfigError(f"Setting 'port' has value {s.port}: not a TCP port.")
    try:
        workers = s.worker_count
    except ValueError:
        raise ConfigError(f"Setting 'workers' has value {s.workers!r}: a number of processes, or auto.") from None
    if not 1 <= workers <= 512:
        raise ConfigError(f"Setting 'workers' has value {s.workers!r}: must be between 1 and 512, or auto.")
    if s.anonymous_retention_days < 1:
        raise ConfigError(f"Setting 'anonymous_retention_days' has value {s.anonymous_retention_days}: must be >= 1.")
    for proxy in s.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"Setting 'trusted_proxies' has value {proxy!r}: not an IP address or network.") from None
    if s.cookie_samesite == "none" and not s.allowed_origins:
        raise ConfigError(
            "Setting 'cookie_samesite' is 'none' but 'allowed_origins' is empty: the ID cookie would go with "
            "requests from any website, which could read a visitor's anonymousId. List your sites' origins."
        )
    for name in SECRETS:
        for value in getattr(s, name).split(",") if name == "cookie_secret" else [getattr(s, name)]:
            if value and len(value) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"Setting '{name}' is {len(value)} characters long: a secret needs at least "
                    f"{MIN_SECRET_LENGTH}, or it can be guessed. Leave it unset to have one made."
                )
    for origin in s.allowed_origins:
        if "://" not in origin or origin.endswith("/"):
            raise ConfigError(
                f"Setting 'allowed_origins' has value {origin!r}: an origin is scheme://host[:port], no path."
            )


_MAKERS = {
    "write_key": lambda: "wk_" + secrets.token_urlsafe(18),
    "server_key": lambda: "sk_" + secrets.token_urlsafe(24),
    "export_token": lambda: "ex_" + secrets.token_urlsafe(24),
    "cookie_secret": lambda: secrets.token_urlsafe(32),
}


def load_or_create_secrets(data_dir: Path, needed: typing.Iterable[str] = GENERATED) -> dict[str, str]:
    """The secrets kept in the data directory, making (and keeping) those of `needed` that are not there
    yet. A secret given by flag or environment is not needed, so no unused key is ever made."""
    path = data_dir / SECRETS_FILE
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    missing = [name for name in needed if not stored.get(name)]
    if not missing:
        return stored
    for name in missing:
        stored[name] = _MAKERS[name]()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # owner-only, like the files in it
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(stored, fh, indent=2)
    os.replace(tmp, path)
    return stored
