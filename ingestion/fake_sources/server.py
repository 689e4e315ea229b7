"""What every fake source shares: a real HTTP server on 127.0.0.1, scripted faults, rate limits.

The fakes are real local processes in the sense the house style asks for: connectors talk to them
over TCP with httpx exactly as they talk to production, so retries, timeouts and truncated bodies
are exercised for real rather than mocked.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fault:
    """One misbehaviour to inject instead of a normal answer. Build with the class methods."""

    kind: str
    status: int = 200
    retry_after: str | None = None
    seconds: float = 0.0
    body: str | None = None

    @classmethod
    def status_code(cls, status: int, *, retry_after: str | int | None = None, body: str | None = None) -> Fault:
        """An error status (429, 500, 502, 503, 401...), optionally with Retry-After and a body."""
        return cls("status", status=status, retry_after=None if retry_after is None else str(retry_after), body=body)

    @classmethod
    def hang(cls, seconds: float = 5.0) -> Fault:
        """Answer nothing for `seconds` (beyond the client's timeout), then the normal response."""
        return cls("hang", seconds=seconds)

    @classmethod
    def slow(cls, seconds: float = 0.5) -> Fault:
        """A slow but complete answer: wait `seconds` (within the client's timeout), then answer."""
        return cls("hang", seconds=seconds)

    @classmethod
    def truncated_body(cls) -> Fault:
        """Promise a longer Content-Length than is sent, then close the connection."""
        return cls("truncated")

    @classmethod
    def html(cls) -> Fault:
        """A 200 with a maintenance page, as load balancers like to send."""
        return cls("html")

    @classmethod
    def malformed_json(cls) -> Fault:
        """A 200 `application/json` whose body is not JSON."""
        return cls("malformed_json")

    @classmethod
    def disconnect(cls) -> Fault:
        """Close the connection without answering."""
        return cls("disconnect")

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """From the command line: `500`, `429:7` (with Retry-After), `hang:3`, `truncated`, `html`..."""
        name, _, argument = spec.partition(":")
        if name.isdigit():
            return cls.status_code(int(name), retry_after=argument or None)
        if name == "hang":
            return cls.hang(float(argument or 5))
        builders = {
            "truncated": cls.truncated_body,
            "html": cls.html,
            "malformed_json": cls.malformed_json,
            "disconnect": cls.disconnect,
        }
        if name not in builders:
            raise ValueError(f"unknown fault {spec!r}")
        return builders[name]()


class FaultScriptHooks:
    """What a FakeServer asks its fault script; `fake_sources.faults.FaultScript` implements it."""

    def fault_for(self, request: RecordedRequest) -> Fault | None:
        return None

    def transform(self, request: RecordedRequest, response: Response) -> Response:
        return response

    def serving(self, request: RecordedRequest, response: Response) -> int | None:
        """Called before the answer goes out (the client may ask again before `served` is called)."""
        return None

    def served(self, server: FakeServer, request: RecordedRequest, response: Response, number: int | None) -> None:
        """Called after the answer went out; `number` is what `serving` returned."""
        return None


@dataclass(frozen=True)
class RateLimit:
    """At most `max_requests` per fixed window of `window_seconds`; then 429 (+ Retry-After)."""

    max_requests: int
    window_seconds: float
    retry_after: str | None = "1"


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the fake saw it, for assertions (headers include credentials: test-only)."""

    number: int
    at: float
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or bytes/str sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class FakeServer:
    """Base of the fake sources. Subclasses implement `handle(request) -> Response`.

    Faults come from a script (`faults={3: Fault.status_code(500)}` for the 3rd request) or a
    queue (`fail_next(...)` for the next requests); a scripted fault wins over the rate limit,
    which wins over the normal answer. `clock` drives rate-limit windows and request times, so a
    test can share one manual clock between the server and the client's injected sleep.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: RateLimit | None = None,
        faults: Mapping[int, Fault] | None = None,
        clock: Callable[[], float] = time.monotonic,
        script: FaultScriptHooks | None = None,
    ) -> None:
        self.host = host
        # A fault script (`fake_sources.faults.FaultScript`) sees every request and answer.
        self.script = script
        self.port = port
        self.rate_limit = rate_limit
        self.clock = clock
        self.requests: list[RecordedRequest] = []
        self._scripted = dict(faults or {})
        self._queued: deque[Fault] = deque()
        self._lock = threading.RLock()
        self._window_start: float | None = None
        self._window_count = 0
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._stopping.clear()
        self._httpd = _QuietServer((self.host, self.port), handler)
        self._thread = threading.Thread(
            # A short poll interval keeps stop() (and so every test's teardown) fast.
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self._stopping.set()  # ends any injected hang at once
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Run in the foreground (for `python -m ingestion.fake_sources`)."""
        if self._httpd is None:
            self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    # -- faults --

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next requests with these faults, in order."""
        with self._lock:
            self._queued.extend(faults)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- subclass hooks --

    def handle(self, request: RecordedRequest) -> Response:
        raise NotImplementedError

    def rate_limited(self, retry_after: str | None) -> Response:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return Response(429, {"message": "Too many requests"}, headers)

    def error_body(self, status: int) -> Any:
        return {
            "status": "error",
            "message": f"Injected failure ({status})",
            "correlationId": str(uuid.uuid4()),
        }

    # -- dispatch --

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            number = len(self.requests) + 1
            request = RecordedRequest(
                number=number,
                at=self.clock(),
                method=handler.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers=dict(handler.headers.items()),
                body=body,
            )
            self.requests.append(request)
            fault = self._scripted.pop(number, None)
            if fault is None and self.script is not None:
                fault = self.script.fault_for(request)
            if fault is None and self._queued:
                fault = self._queued.popleft()
            limited = fault is None and self._over_rate_limit()
        if fault is not None:
            self._apply(fault, handler, request)
        elif limited:
            self._send(handler, self.rate_limited(self.rate_limit.retry_after if self.rate_limit else None))
        else:
            self._serve(handler, request)

    def _serve(self, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        """Answer as the fake does, with the script's say before and after the answer goes out."""
        response = self._safe_handle(request)
        number = None
        if self.script is not None:
            response = self.script.transform(request, response)
            number = self.script.serving(request, response)
        self._send(handler, response)
        if self.script is not None:
            self.script.served(self, request, response, number)

    def _safe_handle(self, request: RecordedRequest) -> Response:
        try:
            return self.handle(request)
        except Exception:  # a bug in a fake should look like a 500, as in production
            logger.exception("fake source failed on %s %s", request.method, request.path)
            return Response(500, self.error_body(500))

    def _over_rate_limit(self) -> bool:
        if self.rate_limit is None:
            return False
        now = self.clock()
        if self._window_start is None or now - self._window_start >= self.rate_limit.window_seconds:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        return self._window_count > self.rate_limit.max_requests

    def _apply(self, fault: Fault, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            body = fault.body if fault.body is not None else self.error_body(fault.status)
            self._send(handler, Response(fault.status, body, headers))
        elif fault.kind == "hang":
            if self._stopping.wait(fault.seconds):
                return
            self._serve(handler, request)  # a slow page is still a page served
        elif fault.kind == "truncated":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "4096")
            handler.end_headers()
            handler.wfile.write(b'{"results": [{"id": "1", "prop')
            handler.wfile.flush()
            handler.close_connection = True
        elif fault.kind == "html":
            page = "<!DOCTYPE html><html><body><h1>Onderhoud</h1><p>We are back soon.</p></body></html>"
            self._send(handler, Response(200, page, content_type="text/html; charset=utf-8"))
        elif fault.kind == "malformed_json":
            self._send(handler, Response(200, '{"results": [{"id": "1",, }', content_type="application/json"))
        elif fault.kind == "disconnect":
            handler.close_connection = True

    def _send(self, handler: BaseHTTPRequestHandler, response: Response) -> None:
        payload = response.encoded()
        try:
            handler.send_response(response.status)
            if payload or response.status != 204:
                handler.send_header("Content-Type", response.content_type)
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the client gave up (e.g. after its timeout); nothing to tell it


class _Handler(BaseHTTPRequestHandler):
    fake: FakeServer
    server_version = "FakeSource/1"

    def do_GET(self) -> None:
        self.fake._dispatch(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        # The path only: a query string may carry a credential, and logs must never show one.
        logger.debug("fake source: %s %s -> %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake source: " + format, *args)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hanging handler must not hold up stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("fake source connection error from %s", client_address, exc_info=True)


@contextmanager
def running(server: FakeServer) -> Iterator[str]:
    """Run a fake source in a background thread for the `with` block; yields its base URL."""
    base_url = server.start()
    try:
        yield base_url
    finally:
        server.stop()


class ManualClock:
    """A clock that only moves when told to; pass `.sleep` to connectors and `.monotonic` to fakes.

    Lets a test prove "waited at least Retry-After" by the time the server saw the next request,
    without waiting for real.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
