"""The explorer's HTTP server: the standard library's threaded server, on loopback, behind a token.

Why ``http.server``: every view calls synchronous kernel APIs (ledger sinks,
storage backends, a numpy engine), so a thread per connection is the natural
model; server-sent events are a thread writing to its socket; and the plugin
needs no dependency beyond the kernel's. ``bench/explorer_tiles.py`` shows it
serving map tiles well past the 500 a second asked of it with 20 clients.

Access: every request but the static assets must carry the token, in the
query (``?token=``, as in the printed URL), an ``X-Pxos-Token`` or
``Authorization: token ...`` header, or the cookie set when the browser first
opens the URL. Requests that change something (POST) need the header too, so a
page on another site cannot use the cookie to drive the explorer, and the
``Host`` header must name this server, so DNS rebinding cannot reach it.
"""

from __future__ import annotations

import hmac
import json
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Optional, Union
from urllib.parse import urlencode

from pxos_explorer.http import (
    MAX_BODY,
    HttpError,
    Request,
    Response,
    Stream,
    error_body,
    parse_query,
    status_of,
)

if TYPE_CHECKING:
    from pxos_explorer.app import Explorer

MAX_CONNECTIONS = 256
IDLE_TIMEOUT = 30.0  # seconds a keep-alive connection may sit idle, or a client take to send its request


class ExplorerServer(ThreadingHTTPServer):
    """A thread per connection, up to :data:`MAX_CONNECTIONS`; the listen backlog holds bursts."""

    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: "Explorer", *, debug: bool = False,
                 log: Any = None) -> None:
        self.app = app
        self.debug = debug
        self.log = log
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            finally:
                self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    @property
    def port(self) -> int:
        return self.server_address[1]


class RequestHandler(BaseHTTPRequestHandler):
    """Checks access, finds the route, and writes its response (or one JSON error)."""

    protocol_version = "HTTP/1.1"
    server_version = "pxos-explorer"
    timeout = IDLE_TIMEOUT
    server: ExplorerServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, the client's delayed ACK
        # holds every keep-alive response back by ~40 ms (Nagle's algorithm).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")

    # -- one request --------------------------------------------------------------------------

    def _handle(self) -> None:
        app = self.server.app
        path, _, query_text = self.path.partition("?")
        query = parse_query(query_text)
        wants_html = not path.startswith("/api/") and "text/html" in self.headers.get("Accept", "")
        try:
            body = self._read_body()
            request = Request(self.command, path, query, {k.lower(): v for k, v in self.headers.items()}, body)
            if not app.host_allowed(request.headers.get("host", "")):
                raise HttpError(403, f"this explorer does not answer to host {request.headers.get('host')!r} "
                                "(open the URL that 'pxos-kernel explore' printed)")
            if path.startswith("/static/") or path == "/favicon.ico":
                self._send(app.static(path, request))
                return
            self._check_token(request)
            if self.command == "GET" and request.arg("token") and not path.startswith("/api/"):
                self._send_redirect_without_token(path, query)
                return
            response = app.dispatch(request)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one clear error, the server stays up
            if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                self.close_connection = True
                return
            response = self._error(exc, wants_html)
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise HttpError(400, f"Content-Length {length!r} is not a number") from None
        if size > MAX_BODY:
            self.close_connection = True
            raise HttpError(413, f"the request body of {size} bytes is over the limit of {MAX_BODY}")
        return self.rfile.read(size)

    def _check_token(self, request: Request) -> None:
        app = self.server.app
        offered = request.arg("token") or request.headers.get("x-pxos-token") or ""
        authorization = request.headers.get("authorization", "")
        if not offered and authorization.lower().startswith("token "):
            offered = authorization[6:].strip()
        header_given = bool(offered) and not request.arg("token")
        if not offered:
            offered = app.token_from_cookie(request.headers.get("cookie", ""))
        if not offered or not hmac.compare_digest(offered.encode(), app.token.encode()):
            what = "a wrong token" if offered else "no token"
            raise HttpError(403, f"403 Forbidden: this request carries {what}. Open the URL with ?token=... "
                            "that 'pxos-kernel explore' printed")
        if request.method == "POST":
            if not header_given:
                raise HttpError(403, "403 Forbidden: a POST must carry the token in an X-Pxos-Token header "
                                "(a cookie alone could be a request forged by another site)")
            origin = request.headers.get("origin")
            if origin and not app.origin_allowed(origin):
                raise HttpError(403, f"403 Forbidden: requests from origin {origin} are refused")

    def _send_redirect_without_token(self, path: str, query: dict[str, list[str]]) -> None:
        rest = {k: v for k, v in query.items() if k != "token"}
        location = path + ("?" + urlencode(rest, doseq=True) if rest else "")
        self._send(Response(b"", content_type="text/plain", status=303,
                            headers={"Location": location, "Set-Cookie": self.server.app.cookie_header()}))

    def _error(self, exc: Exception, wants_html: bool) -> Response:
        status = status_of(exc)
        if status >= 500 and not isinstance(exc, HttpError):
            detail = "".join(traceback.format_exception(exc)) if self.server.debug else ""
            if self.server.log is not None or self.server.debug:
                sys.stderr.write(f"pxos-explorer: {self.command} {self.path}: {type(exc).__name__}: {exc}\n{detail}")
            message = f"internal error: {type(exc).__name__}: {exc}"
            exc = HttpError(status, message + ("" if self.server.debug else " (run with --debug for the traceback)"))
        body = error_body(exc, status)
        if wants_html:
            return self.server.app.error_page(body)
        return Response(json.dumps(body).encode("utf-8"), status=status)

    # -- writing ---------------------------------------------------------------------------------

    def _send(self, response: Union[Response, Stream]) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        for name, value in response.headers.items():
            self.send_header(name, value)
        if isinstance(response, Response):
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            return
        if response.length is not None:
            self.send_header("Content-Length", str(response.length))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        chunks = iter(response.chunks)
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()


def bind(app: "Explorer", host: str, port: int, **options: Any) -> ExplorerServer:
    """A server bound to ``host:port`` (port 0: a free one chosen by the OS)."""
    try:
        return ExplorerServer((host, port), app, **options)
    except OSError as exc:
        raise HttpError(500, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve_in_thread(server: ExplorerServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="pxos-explorer", daemon=True)
    thread.start()
    return thread


def token_url(scheme_host: str, port: int, token: str, path: str = "/") -> str:
    return f"http://{scheme_host}:{port}{path}?{urlencode({'token': token})}"


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def describe(server: ExplorerServer, token: str, host: Optional[str] = None) -> str:
    return token_url(format_host(str(host or server.server_address[0])), server.port, token)
