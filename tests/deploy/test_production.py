"""The production recipe in deploy/, run for real: nginx (Debian's) terminating TLS in front of the collector.

The test makes a certificate, runs nginx with deploy/nginx.conf (its names, ports and paths pointed at the
test's own), and sends as a client from another loopback address (127.0.0.2), so that the client's
address and the proxy's differ.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import cli
from collector.config import load_settings
from tests.conftest import Collector, free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    return cert, key


@pytest.fixture
def nginx(collector_factory: Any, tmp_path: Path) -> Iterator[tuple[str, Path, Collector]]:
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (./scripts/test installs Debian's nginx-light)")
    c: Collector = collector_factory("--trusted-proxies", "127.0.0.1", "--ip-policy", "keep", "--workers", "2")
    cert, key = certificate(tmp_path)
    port = free_port()
    server = (DEPLOY / "nginx.conf").read_text()
    ours = (
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("127.0.0.1:8000", f"127.0.0.1:{c.port}"),
        ("/etc/ssl/footfall/fullchain.pem", str(cert)),
        ("/etc/ssl/footfall/privkey.pem", str(key)),
    )
    for old, new in ours:
        assert old in server, old
        server = server.replace(old, new)
    (tmp_path / "footfall.conf").write_text(server)
    main = (f"daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\nevents {{}}\n"
            f"http {{ access_log off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;\n"
            f"       include {tmp_path}/footfall.conf; }}\n")  # fmt: skip
    (tmp_path / "nginx.conf").write_text(main)
    proc = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "nginx exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "nginx did not listen"
            time.sleep(0.05)
    try:
        yield f"https://127.0.0.1:{port}", cert, c
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stderr is not None:
            proc.stderr.close()


def client(cert: Path) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(cert))
    return httpx.Client(transport=httpx.HTTPTransport(verify=trust, local_address="127.0.0.2"), timeout=30)


def test_https_ingest_through_nginx_keeps_the_real_client_and_not_a_spoofed_one(nginx: Any) -> None:
    url, cert, c = nginx
    with client(cert) as http:
        spoofed = {"X-Forwarded-For": "6.6.6.6", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0"}
        page = {"type": "page", "anonymousId": "visitor-1", "messageId": "via-nginx"}
        r = http.post(url + "/v1/batch", auth=(c.write_key, ""), headers=spoofed, json={"batch": [page]})
        assert r.status_code == 200, r.text
        assert "Secure" in r.headers["set-cookie"]  # X-Forwarded-Proto: https from nginx
        stored = {m["messageId"]: m for m in c.export()}["via-nginx"]
        assert stored["context"]["ip"] == "127.0.0.2"  # the client's, as nginx saw it; not the proxy's, not 6.6.6.6
        big = http.post(url + "/v1/batch", auth=(c.write_key, ""), headers={"X-Big": "a" * 20_000}, json={"batch": []})
        assert big.status_code in (400, 431)  # nginx refuses a header line over its buffers
        assert http.get(url + "/healthz").json()["status"] == "ok"


def test_the_sample_settings_and_the_service_unit_are_valid() -> None:
    settings = load_settings(config_file=DEPLOY / "footfall.toml", environ={})
    assert settings.trusted_proxies == ("127.0.0.1",) and settings.host == "127.0.0.1"
    assert settings.worker_count == len(os.sched_getaffinity(0))  # workers = "auto"
    unit = (DEPLOY / "footfall.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert argv[0].endswith("/footfall") and argv[1] == "serve"
    assert argv[2:] == ["--config", "/etc/footfall/footfall.toml"]  # where the unit's comment says to put the sample
    ctx = cli.serve.make_context("serve", ["--config", str(DEPLOY / "footfall.toml")])  # flags the command takes
    assert ctx.params["config_file"] == DEPLOY / "footfall.toml"
