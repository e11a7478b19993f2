"""Pytest plugin: a real S3 server (SeaweedFS ``weed mini``), fresh buckets and a fault proxy.

Loaded from ``tests/conftest.py`` with ``pytest_plugins = ["tests.fixtures_s3"]``. Facts behind
the command line (every port explicit, grpc ports default to http+10000 and overflow, readiness,
SIGTERM) are in ``shared/reference/test-infra.md`` §1.4. Nothing here mocks our code: tests talk
to the real server, optionally through `FaultProxy`, a small aiohttp reverse proxy that records
every request and injects 503 SlowDown, TCP resets and truncated bodies.

Fixtures
--------
s3_server
    Session-scoped `S3Server` (``endpoint_url``, ``access_key``, ``secret_key``, ``client()``).
aws_env
    Function-scoped: the server's credentials in the environment (monkeypatch; never global),
    and no profile, config file or endpoint variables leaking in from the machine.
s3_bucket
    Function-scoped: a fresh, empty bucket name (implies `aws_env`).
fault_proxy
    Function-scoped: a `FaultProxy` in front of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

ACCESS_KEY = "CTHUNTTESTACCESSKEY1"
SECRET_KEY = "cthunt-test-secret-key-0123456789abcdef"  # noqa: S105 (a local test server's)
REGION = "us-east-1"
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0

# weed mini's port flags, each set explicitly: unset grpc ports default to http+10000, which
# overflows 65535 for random high ports, and the admin server listens even with the UI off.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def _free_ports(count: int) -> list[int]:
    """Distinct free ports on 127.0.0.1 (all held open until chosen, so none repeats)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def make_client(endpoint_url: str, access_key: str, secret_key: str, **config: Any) -> Any:
    """A boto3 S3 client for a local endpoint (path-style addressing, explicit credentials)."""
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {"s3": {"addressing_style": "path"}, "max_pool_connections": 32}
    options.update(config)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=REGION,
        config=Config(**options),
    )


@dataclass
class S3Server:
    """A running ``weed mini`` S3 endpoint."""

    endpoint_url: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, endpoint_url: str | None = None, **config: Any) -> Any:
        """A boto3 client for this server (or for `endpoint_url`, e.g. a proxy in front of it)."""
        return make_client(
            endpoint_url or self.endpoint_url, self.access_key, self.secret_key, **config
        )

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _wait_ready(server: S3Server) -> None:
    """Wait until the S3 port answers HTTP and a signed ListBuckets succeeds."""
    from botocore.exceptions import BotoCoreError, ClientError

    deadline = time.monotonic() + _START_TIMEOUT
    client = server.client(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=5)
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                msg = f"weed mini exited with {server.process.returncode}:\n{server.log_tail()}"
                raise RuntimeError(msg)
            try:
                urllib.request.urlopen(server.endpoint_url, timeout=1).close()  # noqa: S310
            except urllib.error.HTTPError:
                pass  # any HTTP answer (403 for an unsigned request) means the port is up
            except OSError:
                time.sleep(0.1)
                continue
            try:
                client.list_buckets()
                return
            except (BotoCoreError, ClientError):
                time.sleep(0.1)
        msg = f"weed mini not ready after {_START_TIMEOUT} s:\n{server.log_tail()}"
        raise RuntimeError(msg)
    finally:
        client.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=_STOP_TIMEOUT)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Start SeaweedFS ``weed mini`` on 127.0.0.1 for the whole session; SIGTERM at the end."""
    weed = Path(sys.executable).parent / "weed"
    if not weed.exists():
        pytest.fail(f"{weed} not found; install the dev group (`uv sync --group dev`)")
    base = tmp_path_factory.mktemp("seaweedfs")
    data = base / "data"
    data.mkdir()
    config = base / "s3.json"
    identity = {
        "name": "tester",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
    args = [
        str(weed),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        # Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them in our temp dir.
        f"-s3.localSocket={base / 's3.sock'}",
        f"-filer.localSocket={base / 'filer.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    log_path = base / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=base
        )
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{ports['s3.port']}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        process=process,
        log_path=log_path,
    )
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, s3_server: S3Server, tmp_path: Path) -> S3Server:
    """Point boto3's default credential chain at the test server, for this test only."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    # No config or credentials file from the machine may change what boto3 does here.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return s3_server


@pytest.fixture
def s3_bucket(s3_server: S3Server, aws_env: S3Server) -> str:
    """A fresh, empty bucket on the test server; its name."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    client = s3_server.client()
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()
    return name


# --------------------------------------------------------------------------------------------
# Fault proxy
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request the proxy received (before any fault was applied)."""

    method: str
    path: str
    query: str

    @property
    def params(self) -> dict[str, str]:
        """The query string as a dict (last value wins; blank values kept)."""
        return {k: v[-1] for k, v in parse_qs(self.query, keep_blank_values=True).items()}

    @property
    def is_list_v2(self) -> bool:
        """True for a ListObjectsV2 request."""
        return self.method == "GET" and self.params.get("list-type") == "2"


Match = Callable[[RecordedRequest], bool]

_SLOW_DOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>FAULTPROXY</RequestId><HostId>fault-proxy</HostId></Error>"
)

# Hop-by-hop headers (RFC 9110 §7.6.1) and the ones aiohttp recomputes; everything else passes
# through untouched, Host included, so a SigV4 signature made for the proxy still verifies.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass
class _Fault:
    kind: str
    remaining: int
    match: Match
    keep: float = 0.5


@dataclass
class FaultProxy:
    """A reverse proxy in front of the S3 server that records requests and injects faults.

    Runs an aiohttp server on 127.0.0.1 in a background thread with its own event loop. Bodies
    pass through byte for byte in both directions (no auto-decompression), and a HEAD answer
    keeps the upstream Content-Length.
    """

    upstream: str
    endpoint_url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: Any = None
    _session: Any = None

    # --- fault programming --------------------------------------------------------------

    def slow_down(self, times: int, match: Match) -> None:
        """Answer the next `times` matching requests with ``503 SlowDown`` (S3 XML body)."""
        self._add(_Fault("slowdown", times, match))

    def reset(self, times: int, match: Match) -> None:
        """Reset the TCP connection (RST) instead of answering the next `times` matches."""
        self._add(_Fault("reset", times, match))

    def truncate(self, times: int, match: Match, keep: float = 0.5) -> None:
        """Send the full headers but only `keep` of the body, then cut the connection."""
        self._add(_Fault("truncate", times, match, keep))

    def clear(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()

    def recorded(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far."""
        with self._lock:
            return list(self.requests)

    def pending_faults(self) -> int:
        """How many injections are still armed (0 once every fault has fired)."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(self, request: RecordedRequest) -> _Fault | None:
        with self._lock:
            self.requests.append(request)
            for fault in self._faults:
                if fault.remaining > 0 and fault.match(request):
                    fault.remaining -= 1
                    return fault
        return None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start serving; sets `endpoint_url`."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.endpoint_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(sock))
            except BaseException as exc:  # reported to the starting thread below
                failure.append(exc)
                return
            finally:
                started.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready = started.wait(10)
        if failure or not ready:
            self._thread.join(timeout=10)
            sock.close()
            loop.close()
            self._loop = None
            msg = "fault proxy did not start"
            raise RuntimeError(msg) from (failure[0] if failure else None)
        return self

    async def _serve(self, sock: socket.socket) -> None:
        from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

        self._session = ClientSession(
            connector=TCPConnector(limit=64, force_close=False),
            auto_decompress=False,  # gzip objects must come back as stored
            timeout=ClientTimeout(total=60),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        )
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # auto_decompress=False: a `Content-Encoding: gzip` upload must reach S3 unchanged, or
        # its checksum no longer matches (BadDigest).
        self._runner = web.AppRunner(
            app, auto_decompress=False, access_log=None, shutdown_timeout=1
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            await self._runner.cleanup()
            await self._session.close()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()
        self._loop = None

    # --- the handler --------------------------------------------------------------------

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web
        from yarl import URL

        recorded = RecordedRequest(request.method, request.path, request.query_string)
        fault = self._take(recorded)
        body = await request.read()
        if fault is not None and fault.kind == "slowdown":
            return web.Response(
                status=503, body=_SLOW_DOWN_BODY, headers={"Content-Type": "application/xml"}
            )
        if fault is not None and fault.kind == "reset":
            _abort_with_rst(request)
            raise asyncio.CancelledError  # nothing more can be written on this connection
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        # raw_path keeps the client's exact encoding, which the signature covers.
        url = URL(self.upstream + request.raw_path, encoded=True)
        async with self._session.request(
            request.method, url, headers=headers, data=body or None, allow_redirects=False
        ) as upstream:
            payload = await upstream.read()
            out_headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP]
            status = upstream.status
        response = web.StreamResponse(status=status)
        for k, v in out_headers:
            response.headers.add(k, v)
        if request.method == "HEAD":
            # Keep upstream's Content-Length (s3fs reads 0-byte files otherwise).
            await response.prepare(request)
            return response
        response.headers["Content-Length"] = str(len(payload))
        await response.prepare(request)
        if fault is not None and fault.kind == "truncate":
            await response.write(payload[: int(len(payload) * fault.keep)])
            await asyncio.sleep(0.05)  # let the partial body leave before the reset
            _abort_with_rst(request)
            raise asyncio.CancelledError
        await response.write(payload)
        await response.write_eof()
        return response


def _abort_with_rst(request: Any) -> None:
    """Close the client connection with a TCP RST (SO_LINGER 0) rather than a clean FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@pytest.fixture
def fault_proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    """A fresh `FaultProxy` in front of the session's S3 server."""
    proxy = FaultProxy(upstream=s3_server.endpoint_url).start()
    try:
        yield proxy
    finally:
        proxy.stop()


__all__ = [
    "ACCESS_KEY",
    "REGION",
    "SECRET_KEY",
    "FaultProxy",
    "RecordedRequest",
    "S3Server",
    "make_client",
]
