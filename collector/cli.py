"""`footfall`: the command line. Every `Settings` field is a flag on every command (see config.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from collector.config import ENV_PREFIX, GENERATED, SECRETS_FILE, ConfigError, Settings, field_type, load_settings

F = typing.TypeVar("F", bound=Callable[..., Any])


def _click_type(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    base = args[0] if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType) else tp
    if typing.get_origin(base) is typing.Literal:
        return click.Choice(typing.get_args(base), case_sensitive=False)
    return {int: int, Path: click.Path(path_type=Path)}.get(base, str)


# The settings that the commands other than `serve` use, and what they mean there.
CLIENT_SETTINGS = {
    "host": "Address of the running collector to connect to.",
    "port": "Port of the running collector to connect to.",
    "data_dir": "Data directory whose secrets.json holds the export token (unless --export-token is given).",
    "export_token": "Bearer token of the collector's export and admin endpoints. [default: from secrets.json]",
}
STORE_SETTINGS = {
    "data_dir": "Data directory holding the SQLite database.",
    "db": "Storage: a SQLite file path (or sqlite:///path), or a postgresql:// URL. "
    "[default: footfall.db in --data-dir]",
    "anonymous_retention_days": "Days after which messages of never-identified visitors are deleted.",
}


def settings_options(only: dict[str, str] | None = None) -> Callable[[F], F]:
    """Add a flag per Settings field (or per field of `only`, with the help text given there), plus --config.

    Unset flags stay None, so the environment and the file count. A boolean is a switch: `--sync-commits`
    turns it on, `--no-sync-commits` off.
    """

    def decorate(func: F) -> F:
        for f in reversed(dataclasses.fields(Settings)):
            if only is not None and f.name not in only:
                continue
            tp = field_type(f)
            default = f.default if not isinstance(f.default, tuple) else ",".join(f.default)
            env = ENV_PREFIX + f.name.upper()
            text = only[f.name] if only is not None else f.metadata["help"]
            flag = "--" + f.name.replace("_", "-")
            if tp is bool:
                shown = f" [default: {'on' if default else 'off'}]"
                option = click.option(
                    f"{flag}/--no-{f.name.replace('_', '-')}", f.name, default=None, help=f"{text}{shown} [env: {env}]"
                )
            else:
                shown = "" if default in ("", None) or "[default:" in text else f" [default: {default}]"
                option = click.option(
                    flag, f.name, type=_click_type(tp), default=None, help=f"{text}{shown} [env: {env}]"
                )
            func = option(func)
        return click.option(
            "--config",
            "config_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help=f"TOML file with settings (keys as the flags, e.g. port = 8000). [env: {ENV_PREFIX}CONFIG]",
        )(func)

    return decorate


def build_settings(config_file: Path | None, flags: dict[str, Any]) -> Settings:
    try:
        return load_settings(config_file=config_file, **flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _client_settings(config_file: Path | None, flags: dict[str, Any]) -> Settings:
    try:
        return build_settings(config_file, flags).with_export_token()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def split_settings(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = {f.name for f in dataclasses.fields(Settings)}
    return {k: v for k, v in kwargs.items() if k in names}, {k: v for k, v in kwargs.items() if k not in names}


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="footfall-collector")
def main() -> None:
    """Footfall: a self-hosted, first-party event collector (Segment-spec)."""


@main.command(short_help="Run the collector.")
@settings_options()
def serve(config_file: Path | None, **kwargs: Any) -> None:
    """Run the collector."""
    from collector.server import serve as run_server

    settings = build_settings(config_file, kwargs)
    kept = settings.data_dir / SECRETS_FILE
    before = set(json.loads(kept.read_text())) if kept.exists() else set()
    made = {name for name in GENERATED if not getattr(settings, name) and name not in before}
    settings = settings.with_secrets()
    _print_banner(settings, made, terminal=sys.stderr.isatty())
    run_server(settings)


def _print_banner(s: Settings, made: set[str], *, terminal: bool) -> None:
    """What a user needs to start. Secrets made on this run are shown once, and only on a terminal: never
    into a log file or a service manager's journal."""
    base = f"http://{'localhost' if s.host in ('127.0.0.1', '0.0.0.0', '::') else s.host}:{s.port}"
    secrets_path = s.data_dir / SECRETS_FILE
    lines = [
        f"Footfall collector on {base}  (storage: {s.db_url})",
        "",
        "Paste this into your site's <head>:",
        f'  <script async src="{base}/footfall.js" data-write-key="{s.write_key}"></script>',
        "",
        f"Browser write key: {s.write_key}",
    ]
    secret_keys = {"server_key", "export_token"}
    shown = secret_keys & made if terminal else set()
    if "server_key" in shown:
        lines.append(f"Server write key (secret, for backend SDKs): {s.server_key}")
    if "export_token" in shown:
        lines.append(f"Export token (secret): {s.export_token}")
    if shown:
        lines.append(f"These secrets are shown once; they are kept in {secrets_path} (readable by its owner only).")
    elif secret_keys & made:
        lines.append(f"Server write key and export token: made now, kept in {secrets_path} (shown on a terminal only)")
    elif secrets_path.exists():
        lines.append(f"Server write key and export token: in {secrets_path}")
    else:
        lines.append("Server write key and export token: as given (flags or environment)")
    lines += [
        "",
        "Pull events:",
        f"  footfall export --data-dir {s.data_dir} --out events.ndjson",
        f"  export FOOTFALL_EXPORT_TOKEN=$(footfall token --data-dir {s.data_dir})",
        f'  curl -H "Authorization: Bearer $FOOTFALL_EXPORT_TOKEN" "{base}/v1/export?limit=1000"',
        "",
    ]
    if s.log_format == "json":  # one JSON line, as every other line of the log
        logging.getLogger("footfall").info("\n".join(lines).strip())
    else:
        click.echo("\n".join(lines), err=True)


@main.command("export", short_help="Pull events from a running collector as NDJSON.")
@click.option("--url", default=None, help="Collector base URL. [default: http://HOST:PORT from the settings]")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to append to (default: stdout).",
)
@click.option(
    "--cursor-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the cursor to start from, and write the new one after each page, so a later run goes on from there.",
)
@click.option("--since", default=None, help="Only messages received at or after this ISO 8601 time.")
@click.option("--until", default=None, help="Only messages received before this ISO 8601 time.")
@click.option("--type", "msg_type", default=None, help="Only this message type (track, page, ...).")
@click.option("--event", default=None, help="Only track messages with this event name.")
@click.option("--user-id", default=None, help="Only messages of this userId.")
@click.option("--source", default=None, help="Only messages sent with this source's write key (its name).")
@click.option(
    "--page-size", type=click.IntRange(1, 10_000), default=1000, show_default=True, help="Messages per request."
)
@click.option("--follow", is_flag=True, help="Keep polling for new messages after catching up (Ctrl+C stops).")
@settings_options(CLIENT_SETTINGS)
def export_command(config_file: Path | None, **kwargs: Any) -> None:
    """Pull events from a running collector as NDJSON, with a progress bar."""
    from collector.export_client import run_export

    flags, opts = split_settings(kwargs)
    settings = _client_settings(config_file, flags)
    try:
        run_export(settings, **opts)
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command("expire", short_help="Delete expired anonymous messages now.")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Expire as if it were this date (UTC) [default: now]; with --dry-run, see what would go then.",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@settings_options(STORE_SETTINGS)
def expire_command(config_file: Path | None, as_of: datetime | None, dry_run: bool, **kwargs: Any) -> None:
    """Delete messages of never-identified visitors older than the retention, and old quarantine rows.

    Works on the store directly, whether or not the collector is running (it waits for the writer).
    """
    from collector import retention
    from collector.store import NoStore, create_store

    settings = build_settings(config_file, kwargs)
    when = as_of.replace(tzinfo=UTC) if as_of else datetime.now(UTC)

    async def run() -> retention.ExpiryReport:
        store = create_store(settings)
        await store.open(create=False)
        try:
            return await retention.expire(
                store,
                retention.run_directly,
                as_of=when,
                retention_days=settings.anonymous_retention_days,
                dry_run=dry_run,
                pace=False,  # the command's own connection waits its turn; no need to pause besides
            )
        finally:
            await store.close()

    try:
        report = asyncio.run(run())
    except NoStore as exc:
        raise click.ClickException(f"{exc}; nothing to expire (is --data-dir or --db right?)") from None
    verb = "deleted" if report.applied else "would delete"
    click.echo(
        f"{verb} {report.messages} anonymous messages from before {report.cutoff:%Y-%m-%d %H:%M} UTC "
        f"(retention {settings.anonymous_retention_days} days as of {when:%Y-%m-%d}) "
        f"and {report.quarantine} quarantined messages"
    )


# What an import does to each message when it writes the store itself; through a collector, the
# collector's own settings apply instead.
IMPORT_PIPELINE_SETTINGS = {
    "anonymous_retention_days": "Anonymous messages older than this many days are not imported (unless their "
    "anonymousId is linked to a user).",
    "enrich": "Device, location, bot and campaign facts from each message's own context.",
    "geoip_db": "MaxMind City or Country .mmdb file for locations (from each message's context.ip).",
    "ip_policy": "What is stored of a message's context.ip: truncate, keep or drop.",
    "bots": "Messages of bots (by their context.userAgent): keep (flagged) or drop.",
}
IMPORT_SETTINGS = (
    STORE_SETTINGS
    | IMPORT_PIPELINE_SETTINGS
    | {"server_key": "The collector's server key, to import through a running collector. [default: from secrets.json]"}
)


@main.command("import", short_help="Import files of messages (NDJSON, or CSV with a mapping) into the store.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ndjson", "csv"]),
    default=None,
    help="The files' format. [default: csv for *.csv and *.csv.gz, else ndjson]",
)
@click.option(
    "--source",
    default=None,
    help="Source name the messages are stored with. [default: import; through a collector with a named source's "
    "server key, that source]",
)
@click.option(
    "--url",
    default=None,
    help="Import through the collector at this base URL (its streamed import; give its --server-key). "
    "[default: the collector serving --data-dir, if one runs; else straight into the store]",
)
@click.option("--direct", is_flag=True, help="Write straight into the store, even while a collector serves it.")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="CSV: a TOML file saying which column is what (the keys of the options below; "
    '[properties] and [traits] tables of NAME = "COLUMN[:TYPE]").',
)
@click.option(
    "--type",
    "msg_type",
    type=click.Choice(["track", "page", "screen", "identify", "group", "alias"]),
    default=None,
    help="CSV: the messages' type. [default: track with --event or --event-column, else identify]",
)
@click.option("--event", default=None, help="CSV: the event name of every row (track).")
@click.option("--event-column", default=None, help="CSV: the column holding each row's event name.")
@click.option("--user-id-column", default=None, help="CSV: the column holding the userId.")
@click.option("--anonymous-id-column", default=None, help="CSV: the column holding the anonymousId.")
@click.option("--message-id-column", default=None, help="CSV: the column holding the messageId (else one is derived).")
@click.option("--timestamp-column", default=None, help="CSV: the column holding when it happened (ISO 8601).")
@click.option(
    "--timezone",
    default=None,
    help="CSV: the time zone of timestamps that name none (e.g. Europe/Berlin). [default: such rows are rejected]",
)
@click.option("--group-id-column", default=None, help="CSV: the column holding the groupId (group).")
@click.option(
    "--property",
    "properties",
    multiple=True,
    help="CSV: NAME[=COLUMN[:TYPE]], repeatable: a property from a column (TYPE: auto, string, number, boolean, "
    "json). [default: every column not used above]",
)
@click.option("--trait", "traits", multiple=True, help="CSV: NAME[=COLUMN[:TYPE]], repeatable: a trait (identify).")
@settings_options(IMPORT_SETTINGS)
def import_command(config_file: Path | None, files: tuple[Path, ...], fmt: str | None, **kwargs: Any) -> None:
    """Import FILES of messages into the store, through the same validation, identity, enrichment and
    storage as live messages: NDJSON (one Segment-spec message a line, as `footfall export` writes them) or
    CSV with a header row and a mapping; gzip or not.

    Each message keeps its own time; receivedAt is the time of the import. Lines without a messageId get one
    derived from their content, so importing a file again (or again after an interruption) stores nothing
    twice. While a collector serves the data directory, the files go through it (its writer stores them
    between live commits, and its enrichment settings apply); otherwise straight into the store.
    """
    from collector.import_client import run_import_via, running_collector
    from collector.imports import FILE_ERRORS, IMPORT_SOURCE, CsvMapping, load_mapping, parse_pairs, run_import

    flags, opts = split_settings(kwargs)
    settings = build_settings(config_file, flags)
    try:
        mapping = load_mapping(opts["mapping"]) if opts["mapping"] else CsvMapping()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for name, flag in (("type", "msg_type"), ("event", "event"), ("event_column", "event_column"),
                       ("user_id", "user_id_column"), ("anonymous_id", "anonymous_id_column"),
                       ("message_id", "message_id_column"), ("timestamp", "timestamp_column"),
                       ("timezone", "timezone"), ("group_id", "group_id_column")):  # fmt: skip
        if opts[flag]:
            setattr(mapping, name, opts[flag])
    mapping.properties |= parse_pairs(opts["properties"])
    mapping.traits |= parse_pairs(opts["traits"])
    if opts["url"] and opts["direct"]:
        raise click.UsageError("--url imports through a collector, --direct straight into the store: give one")
    if opts["url"] and not settings.server_key:  # never the local secrets.json key to another host
        raise click.UsageError("--url needs the server key of that collector: --server-key or FOOTFALL_SERVER_KEY")
    url = opts["url"] or (None if opts["direct"] else running_collector(settings))
    ignored = [f"--{name.replace('_', '-')}" for name in IMPORT_PIPELINE_SETTINGS if flags.get(name)]
    if url is not None and ignored:
        click.echo(f"note: through the collector, its own settings apply; {', '.join(ignored)} ignored", err=True)
    try:
        mapping.check()
        if url is None:
            summary = run_import(settings, files, fmt=fmt, mapping=mapping, source=opts["source"] or IMPORT_SOURCE)
        else:
            click.echo(f"importing through the collector at {url}", err=True)
            try:
                key = settings.with_kept("server_key").server_key
            except ConfigError as exc:
                raise ConfigError(
                    f"{exc} Importing through the collector takes its server key; --direct writes straight "
                    "into the store instead."
                ) from None
            summary = run_import_via(url, key, list(files), fmt=fmt, mapping=mapping, source=opts["source"])
    except FILE_ERRORS as exc:  # a file that cannot be read on, a bad mapping, no server key (ValueErrors)
        raise click.ClickException(str(exc)) from None
    click.echo(summary.text())
    if summary.error:
        raise click.ClickException("the import stopped before the end; run it again to import the rest")


@main.command("erase", short_help="Erase a user's data through a running collector.")
@click.argument("user_id")
@click.option("--suppress", is_flag=True, help="Also refuse this user's messages from now on (kept as a hash).")
@click.option("--url", default=None, help="Collector base URL. [default: http://HOST:PORT from the settings]")
@settings_options(CLIENT_SETTINGS)
def erase_command(config_file: Path | None, user_id: str, suppress: bool, url: str | None, **kwargs: Any) -> None:
    """Forget USER_ID: messages (theirs and their linked IDs'), traits, links, quarantined rows."""
    import httpx

    settings = _client_settings(config_file, kwargs)
    base = (url or f"http://{settings.host}:{settings.port}").rstrip("/")
    try:
        r = httpx.delete(
            f"{base}/v1/users/{quote(user_id, safe='')}",
            params={"suppress": "true" if suppress else "false"},
            headers={"Authorization": f"Bearer {settings.export_token}"},
            timeout=600,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the collector at {base}: {exc}") from None
    if r.status_code != 200:
        raise click.ClickException(f"erase failed ({r.status_code}): {r.text.strip()}")
    done = r.json()
    click.echo(
        f"erased {user_id}: {done['messages']} messages, {done['quarantine']} quarantined, {done['links']} links, "
        f"{done['traits']} traits over {len(done['ids'])} IDs" + ("; suppressed" if done["suppressed"] else "")
    )


@main.group("keys", short_help="List, create and revoke write keys (sources).")
def keys_group() -> None:
    """Write keys, each of a named source of a kind: browser (public, in a page) or server (secret).

    Works on the store directly, whether or not the collector is running: every collector takes a new or
    revoked key into account within seconds. The two keys of the collector's settings are the default
    sources, default-browser and default-server, and are listed here only once revoked.
    """


def _with_store(settings: Settings, job: Callable[[Any], Any]) -> Any:
    from collector.store import NoStore, create_store

    async def run() -> Any:
        store = create_store(settings)
        await store.open(create=False)
        try:
            return await job(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except NoStore as exc:
        raise click.ClickException(
            f"{exc} (is --data-dir or --db right? start the collector once to make it)"
        ) from None


KEY_SETTINGS = {k: v for k, v in STORE_SETTINGS.items() if k != "anonymous_retention_days"}


@keys_group.command("list")
@settings_options(KEY_SETTINGS)
def keys_list(config_file: Path | None, **kwargs: Any) -> None:
    """List the sources kept in the store: name, kind, key prefix, origins, made, revoked."""
    settings = build_settings(config_file, kwargs)
    found = _with_store(settings, lambda store: store.read_sources())
    if not found:
        click.echo("no sources besides the two default keys of the collector's settings")
    for s in found:
        made = datetime.fromtimestamp(s.created_at / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        state = (
            "in force"
            if s.revoked_at is None
            else "revoked " + datetime.fromtimestamp(s.revoked_at / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        )
        origins = s.allowed_origins or "(any allowed by the settings)"
        click.echo(f"{s.name}\t{s.kind}\t{s.key_prefix}...\t{origins}\tmade {made}\t{state}")


@keys_group.command("create")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["browser", "server"]),
    required=True,
    help="browser: public, in a page; server: secret, for backends.",
)
@click.option(
    "--allowed-origins",
    "origins",
    default="",
    help="Comma-separated origins that may send with this key (browser sources).",
)
@settings_options(KEY_SETTINGS)
def keys_create(config_file: Path | None, name: str, kind: str, origins: str, **kwargs: Any) -> None:
    """Make a write key for a new source NAME and print it (once: only its hash is kept)."""
    from collector.sources import DEFAULT_BROWSER, DEFAULT_SERVER, new_key, source_for

    settings = build_settings(config_file, kwargs)
    if name in (DEFAULT_BROWSER, DEFAULT_SERVER) or not name.strip():
        raise click.UsageError(f"{name!r} cannot be a source's name")
    key = new_key(kind)  # type: ignore[arg-type]
    now = int(datetime.now(UTC).timestamp() * 1000)
    source = source_for(name, kind, key, origins, now)  # type: ignore[arg-type]
    if not _with_store(settings, lambda store: store.add_source(source)):
        raise click.ClickException(f"a source named {name!r} exists already")
    click.echo(key)
    click.echo(
        f"made {kind} source {name!r}; its key is above, shown this once (collectors take it within seconds)", err=True
    )


@keys_group.command("revoke")
@click.argument("name")
@settings_options(
    KEY_SETTINGS
    | {
        "write_key": "The collector's browser key, to revoke default-browser. [default: from secrets.json]",
        "server_key": "The collector's server key, to revoke default-server. [default: from secrets.json]",
    }
)
def keys_revoke(config_file: Path | None, name: str, **kwargs: Any) -> None:
    """Revoke the key of source NAME: every collector refuses it within seconds.

    NAME may be default-browser or default-server, the keys of the collector's settings: such a key stays
    refused until the settings give a new one (write_key or server_key, then restart the collector), or
    use a source made with `footfall keys create` instead.
    """
    from collector.sources import DEFAULT_BROWSER, DEFAULT_SERVER, revoked_default

    settings = build_settings(config_file, kwargs)
    now = int(datetime.now(UTC).timestamp() * 1000)
    if name in (DEFAULT_BROWSER, DEFAULT_SERVER):
        setting = "write_key" if name == DEFAULT_BROWSER else "server_key"
        try:
            key = getattr(settings.with_kept(setting), setting)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        revoked = revoked_default(name, "browser" if name == DEFAULT_BROWSER else "server", key, now)
        if not _with_store(settings, lambda store: store.add_source(revoked)):
            raise click.ClickException(f"the key of {name!r} ({key[:7]}...) is revoked already")
        click.echo(f"revoked the key of source {name!r} ({key[:7]}...); set a new {setting} to send again")
        return
    if not _with_store(settings, lambda store: store.revoke_source(name, now)):
        raise click.ClickException(f"no source named {name!r} is in force")
    click.echo(f"revoked the key of source {name!r}")


def _demo_site() -> Path | None:
    """The static shop example, in the clone this runs from (it is not part of the installed package)."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[1]):
        site = root / "examples" / "static_site" / "serve.py"
        if site.exists():
            return site
    return None


@main.command("demo", short_help="A collector and a demo shop, to click through.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port of the demo collector.")
@click.option("--site-port", type=int, default=8080, show_default=True, help="Port of the demo shop.")
def demo_command(port: int, site_port: int) -> None:
    """Start a collector on a temporary data directory and the static shop example beside it, print the two
    URLs to open (the shop, and the live view with its token), and clean everything up on Ctrl-C.

    Run it from a clone of the repository (the shop is one of its examples)."""
    import shutil
    import subprocess
    import tempfile
    import time

    import httpx

    site = _demo_site()
    if site is None:
        raise click.ClickException("the demo shop (examples/static_site) is not here: run footfall demo from a clone")
    data_dir = Path(tempfile.mkdtemp(prefix="footfall-demo-"))
    url = f"http://localhost:{port}"
    serve = [sys.executable, "-m", "collector", "serve", "--data-dir", str(data_dir), "--port", str(port),
             "--log-level", "warning"]  # fmt: skip
    log = (data_dir / "collector.log").open("wb")
    procs = [subprocess.Popen(serve, stdout=log, stderr=subprocess.STDOUT)]
    try:
        deadline = time.monotonic() + 30
        while True:
            if procs[0].poll() is not None:
                said = Path(log.name).read_text(errors="replace").strip().splitlines()[-3:]
                raise click.ClickException(f"the collector did not start (port {port} taken?): {' '.join(said)}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise click.ClickException("the collector did not answer in 30 s")
            time.sleep(0.1)
        secrets = json.loads((data_dir / SECRETS_FILE).read_text())
        shop = [sys.executable, str(site), "--collector", url, "--write-key", secrets["write_key"],
                "--port", str(site_port)]  # fmt: skip
        procs.append(subprocess.Popen(shop, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while True:  # the shop answers before its URL is shown
            if procs[1].poll() is not None:
                raise click.ClickException(f"the shop did not start (port {site_port} taken?)")
            try:
                httpx.get(f"http://127.0.0.1:{site_port}/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise click.ClickException("the shop did not answer in 30 s") from None
                time.sleep(0.1)
        click.echo(
            f"Footfall demo (data in {data_dir}, removed when you stop it)\n\n"
            f"  the shop:      http://localhost:{site_port}/   click around, buy something, sign in\n"
            f"  the live view: {url}/live   export token: {secrets['export_token']}\n\n"
            "Ctrl-C stops both and cleans up."
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.2)
        raise click.ClickException("a demo process stopped by itself (a port taken?)")
    except KeyboardInterrupt:
        click.echo("stopping the demo")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@main.command("token", short_help="Print the export token, for scripts.")
@settings_options({"data_dir": "Data directory of the collector, whose secrets.json holds the token."})
def token_command(config_file: Path | None, **kwargs: Any) -> None:
    """Print the export token kept in the data directory, for scripts and curl:

    export FOOTFALL_EXPORT_TOKEN=$(footfall token)

    `footfall export` and `footfall erase` read it from there themselves (or from FOOTFALL_EXPORT_TOKEN).
    """
    settings = _client_settings(config_file, kwargs)
    click.echo(settings.export_token)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
