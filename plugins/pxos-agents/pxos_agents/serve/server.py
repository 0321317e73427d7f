"""The HTTP server: one thread per connection, the OpenAI routes, SSE streaming.

Built on the standard library's ``ThreadingHTTPServer``: each connection has
its own thread, so a slow generation does not hold up other requests. What it
holds is bounded (:class:`~pxos_agents.serve.protocol.Limits`):

* a listen backlog of ``backlog`` connections, so bursts queue instead of being reset;
* at most ``max_connections`` connections at once, and ``max_inflight`` generations
  per engine (waiting up to ``queue_wait`` for a slot): past either, 503 with ``Retry-After``;
* deadlines for the request line and headers, for the body, and between requests,
  enforced as wall-clock deadlines (a client trickling one byte at a time gains nothing);
* bodies: ``Content-Length`` required and at most ``max_body_bytes``, JSON nesting at
  most ``max_json_depth`` deep; every invalid field is a 400 in the OpenAI error shape.

:meth:`OpenAIServer.stop` (what ``serve`` does on SIGTERM or Ctrl-C) stops accepting,
lets requests in progress finish for a grace period and closes the socket.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Optional

from pxos_kernel import PxosError

from pxos_agents.serve import protocol as p
from pxos_agents.serve.catalog import Catalog


#: Streamed text is sent at most this often (seconds); the first piece goes out at once.
COALESCE_S = 0.005


class OpenAIServer(ThreadingHTTPServer):
    """Serves a :class:`Catalog` on ``(host, port)``; port 0 picks a free one."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, catalog: Catalog, host: str = "127.0.0.1", port: int = 8000,
                 limits: p.Limits = p.Limits(), quiet: bool = True) -> None:
        self.catalog = catalog
        self.limits = limits
        self.quiet = quiet
        self.request_queue_size = limits.backlog  # socketserver's default of 5 reset bursts of clients
        self._connections = threading.BoundedSemaphore(limits.max_connections)
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()
        self._active = 0
        self._idle = threading.Condition()  # guards _active, _waiting and _stopping
        self._waiting: set[socket.socket] = set()  # connections waiting for their next request
        self._stopping = False
        super().__init__((host, port), _Handler)

    # -- bounded resources ----------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a connection's thread, or answer 503 at once when ``max_connections`` are open."""
        if not self._connections.acquire(blocking=False):
            _refuse_busy(request, f"the server has {self.limits.max_connections} connections open")
            self.shutdown_request(request)
            return
        with self._idle:
            self._active += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def generation_slot(self, engine: str) -> threading.BoundedSemaphore:
        """The semaphore bounding ``engine``'s generations in flight."""
        with self._slots_lock:
            if engine not in self._slots:
                self._slots[engine] = threading.BoundedSemaphore(self.limits.max_inflight)
            return self._slots[engine]

    def waiting(self, connection: socket.socket, waiting: bool) -> bool:
        """Mark ``connection`` as waiting for its next request (or no longer); False once the server stops."""
        with self._idle:
            if waiting:
                self._waiting.add(connection)
            else:
                self._waiting.discard(connection)
            return not self._stopping

    # -- lifecycle ------------------------------------------------------------------------

    _serving = False

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving = True
        try:
            super().serve_forever(poll_interval)
        finally:
            self._serving = False

    def stop(self, grace: float = 10.0) -> int:
        """Stop accepting, close the connections waiting for a request, give requests in progress up to
        ``grace`` seconds to finish, close; return how many connections were cut."""
        if self._serving:
            self.shutdown()
        deadline = time.monotonic() + grace
        with self._idle:
            # A client's kept-alive connection between requests holds nothing worth waiting for: without
            # this, every pooled connection of the official client held the shutdown for the whole grace.
            self._stopping = True
            for connection in self._waiting:
                try:
                    connection.shutdown(socket.SHUT_RDWR)  # its thread sees the end of the stream, and ends
                except OSError:
                    pass
            while self._active and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())
            left = self._active
        self.server_close()
        return left

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start_background(self) -> threading.Thread:
        """Serve in a daemon thread (tests, benchmarks); stop with ``shutdown()`` then ``server_close()``."""
        thread = threading.Thread(target=self.serve_forever, name="pxos-serve", daemon=True)
        thread.start()
        return thread


def _refuse_busy(connection: socket.socket, why: str, retry_after: int = 1) -> None:
    """Answer 503 with Retry-After on a connection no thread will serve (best effort, never blocking long)."""
    body = json.dumps({"error": {"message": f"{why}; retry after {retry_after} s", "type": "server_error",
                                 "param": None, "code": "server_overloaded"}}).encode("utf-8")
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
            f"\r\nRetry-After: {retry_after}\r\nConnection: close\r\n\r\n").encode("ascii")
    try:
        connection.settimeout(1.0)
        connection.sendall(head + body)
    except OSError:
        pass


class _Deadline:
    """Wraps the connection's reader so that a whole phase (headers, body) has one wall-clock deadline.

    A socket timeout alone bounds each read, so a client sending a byte every few
    seconds could hold a thread forever; here every read gets only the time left.
    """

    def __init__(self, stream: Any, connection: socket.socket) -> None:
        self._stream, self._connection = stream, connection
        self._deadline = float("inf")

    def start(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self._connection.settimeout(left)

    def readline(self, limit: int = -1) -> bytes:
        self._arm()
        return self._stream.readline(limit)

    def read(self, size: int = -1) -> bytes:
        self._arm()
        return self._stream.read(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: OpenAIServer
    server_version = "pxos-serve/0.1"
    # A reply's status line, headers and body are gathered and sent in one write (http.server flushes
    # after each request; SSE events flush themselves): unbuffered, head and body went as two packets.
    wbufsize = 1 << 16

    def setup(self) -> None:
        super().setup()
        # Replies are written in a few small pieces (headers, body, SSE events): without this,
        # Nagle's algorithm and the client's delayed ACK add up to 40 ms to each of them.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.deadline = _Deadline(self.rfile, self.connection)
        self.rfile = self.deadline  # type: ignore[assignment]  # what http.server reads: under the deadlines
        self._first = True

    def handle_one_request(self) -> None:
        """One request, under the deadlines: the first wait for a request line is the header
        deadline, later ones (keep-alive) the idle one; a missed deadline closes the connection."""
        limits = self.server.limits
        self.deadline.start(limits.header_timeout if self._first else limits.idle_timeout)
        self._first = False
        try:
            if not self._first_byte():
                return
            self.deadline.start(limits.header_timeout)
            super().handle_one_request()
            if self.server._stopping:
                self.close_connection = True  # the reply went out; no further request on this connection
        except (TimeoutError, socket.timeout, BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # a missed deadline, or a client gone before its reply was flushed
        finally:
            self.connection.settimeout(None)

    def _first_byte(self) -> bool:
        """Wait (under the current deadline) until the client sends something; False when it closed,
        or the server stops while it waits."""
        try:
            if not self.server.waiting(self.connection, True):
                data = b""
            else:
                self.deadline._arm()
                data = self.deadline.peek(1)
        except (TimeoutError, socket.timeout, OSError):
            self.close_connection = True
            return False
        finally:
            self.server.waiting(self.connection, False)
        if not data:
            self.close_connection = True
            return False
        return True

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    # -- replies --------------------------------------------------------------------------

    def _json(self, status: int, body: dict, headers: Optional[dict] = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, error: p.ApiError, close: bool = False) -> None:
        if close:
            self.close_connection = True
        self._json(error.status, error.body, {"Retry-After": "1"} if isinstance(error, _Busy) else None)

    def _sse(self, events: Iterator[dict]) -> None:
        """Server-sent events in HTTP/1.1 chunks, so the connection can serve the client's next request (the
        official async client reads a stream to its end to reuse the connection; the sync one closes it)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._streaming = True
        try:
            try:
                for event in events:
                    self._chunk(b"data: " + json.dumps(event).encode("utf-8") + b"\n\n")
                    self.wfile.flush()
                self._chunk(b"data: [DONE]\n\n")
            except p.ApiError as exc:  # the engine failed mid-stream: tell the client in-band
                self._chunk(b"data: " + json.dumps(exc.body).encode("utf-8") + b"\n\n")
            self.wfile.write(b"0\r\n\r\n")  # the last chunk: the reply is complete
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; its generation stops with this thread's loop

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    # -- routes ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            data = [{"id": m.id, "object": "model", "created": 0, "owned_by": m.engine_name}
                    for m in self.server.catalog.models.values()]
            return self._json(200, {"object": "list", "data": data})
        self._drain()
        self._error(p.ApiError(404, f"no route GET {self.path}", code="unknown_url"))

    def do_POST(self) -> None:
        routes: dict[str, Callable[[dict], None]] = {"/v1/completions": self._completions,
                                                     "/v1/chat/completions": self._chat}
        route = routes.get(self.path.split("?", 1)[0].rstrip("/"))
        self._streaming = False
        try:
            body = self._body()
            if route is None:
                raise p.ApiError(404, f"no route POST {self.path}", code="unknown_url")
            route(body)
        except p.ApiError as exc:
            self._error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug must still get an answer in the OpenAI shape, not a dropped connection
            self.log_message("internal error: %s: %s", type(exc).__name__, exc)
            if self._streaming:  # the stream's head is out: the reply cannot become a 500, only end unfinished
                self.close_connection = True
                return
            self._error(p.ApiError(500, f"internal error: {type(exc).__name__}", type="server_error"), close=True)

    def _drain(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) <= self.server.limits.max_body_bytes:
            self.rfile.read(int(length))

    def _body(self) -> dict:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked" or length is None:
            self.close_connection = True
            raise p.ApiError(411, "send the request body with a Content-Length header", code="length_required")
        if not length.isdigit():
            self.close_connection = True
            raise p.ApiError(400, f"Content-Length {length!r} is not a number")
        limit = self.server.limits.max_body_bytes
        if int(length) > limit:
            self.close_connection = True  # the unread body must not be parsed as the next request
            raise p.ApiError(413, f"request body of {length} bytes exceeds the limit of {limit} bytes",
                             code="request_too_large")
        self.deadline.start(self.server.limits.body_timeout)
        try:
            raw = self.rfile.read(int(length))
        except (TimeoutError, socket.timeout):
            self.close_connection = True
            raise p.ApiError(408, f"the request body did not arrive within {self.server.limits.body_timeout:g} s",
                             code="request_timeout") from None
        if len(raw) < int(length):
            self.close_connection = True
            raise p.ApiError(400, f"the request body ended after {len(raw)} of {length} bytes")
        self.connection.settimeout(self.server.limits.body_timeout)  # now bounds each reply write instead
        p.check_depth(raw, self.server.limits.max_json_depth)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise p.ApiError(400, f"could not parse the JSON body of your request: {exc}") from None
        if not isinstance(body, dict):
            raise p.ApiError(400, "the request body must be a JSON object")
        return body

    def _model(self, body: dict):
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise p.ApiError(400, "'model' is required", param="model")
        served = self.server.catalog.resolve(name)
        if served is None:
            known = ", ".join(self.server.catalog.models) or "none"
            raise p.ApiError(404, f"The model '{name}' does not exist (available: {known})", param="model",
                             code="model_not_found")
        return served

    def _slot(self, served) -> threading.BoundedSemaphore:
        """A generation slot of the model's engine, waited for up to ``queue_wait`` (then 503)."""
        slot = self.server.generation_slot(served.engine_name)
        if not slot.acquire(timeout=self.server.limits.queue_wait):
            raise _Busy(f"engine {served.engine_name} is running {self.server.limits.max_inflight} generations")
        return slot

    def _generate(self, served, request, messages=None) -> Iterator[tuple[str, int, Optional[str]]]:
        try:
            chunks = served.engine.generate(request) if messages is None else served.engine.chat(request, messages)
            for chunk in chunks:
                yield chunk.text, chunk.tokens, chunk.finish_reason
        except PxosError as exc:
            raise p.ApiError(500, f"engine {served.engine_name}: {exc}", type="server_error") from None

    def _run(self, body: dict, prompt: Callable, default_tokens: int, whole: Callable, chunk: Callable) -> None:
        served = self._model(body)
        text, messages = prompt(served)
        request = p.generation_request(body, text, served.model, self.server.limits, default_tokens)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise p.ApiError(400, "'stream' must be true or false", param="stream")
        rid = p.new_id("cmpl")
        slot = self._slot(served)
        try:
            if not stream:
                texts, tokens, finish = [], 0, None
                for text, used, finish in self._generate(served, request, messages):
                    texts.append(text)
                    tokens += used
                return self._json(200, whole(rid, served.id, "".join(texts), finish, tokens))
            self._stream(served, request, messages, rid, chunk)
        finally:
            slot.release()

    def _stream(self, served, request, messages, rid: str, chunk: Callable) -> None:
        def events() -> Iterator[dict]:
            # Text produced within one COALESCE_S window goes out as one event: a fast engine then
            # does not drown the client in per-token events, and a slow one still streams each token.
            first, pending, last = True, [], 0.0
            for text, _, finish in self._generate(served, request, messages):
                pending.append(text)
                now = time.perf_counter()
                if (finish or now - last >= COALESCE_S) and "".join(pending):
                    yield chunk(rid, served.id, "".join(pending), None, first)
                    first, pending, last = False, [], now
                if finish:
                    yield chunk(rid, served.id, None, finish, first)
        self._sse(events())

    def _completions(self, body: dict) -> None:
        prompt = p.completion_prompt(body)
        self._run(body, lambda served: (prompt, None), 16, p.completion_body, _completion_chunk)

    def _chat(self, body: dict) -> None:
        messages = p.chat_messages(body)
        self._run(body, lambda served: self._chat_prompt(served, messages), 256, p.chat_body, p.chat_chunk)

    @staticmethod
    def _chat_prompt(served, messages: list) -> tuple[str, Optional[list]]:
        """An engine with chat templates (an engine ``chat(request, messages)`` method, as pixellm has) applies
        the model's own; it refuses models without one (400). Other engines get the messages as a transcript."""
        render = getattr(served.engine, "chat_prompt", None)
        if render is None or not hasattr(served.engine, "chat"):
            return p.chat_prompt(messages), None
        try:
            return render(served.model, messages), messages
        except PxosError as exc:
            raise p.ApiError(400, f"{served.id}: {exc}", param="messages") from None


class _Busy(p.ApiError):
    """No generation slot came free in time: 503 with Retry-After."""

    def __init__(self, why: str) -> None:
        super().__init__(503, f"{why}; retry after 1 s", type="server_error", code="server_overloaded")


def _completion_chunk(rid: str, model: str, text: Optional[str], finish: Optional[str], first: bool = False) -> dict:
    return p.completion_chunk(rid, model, text or "", finish)


def serve(kernel: Any, host: str = "127.0.0.1", port: int = 8000, limits: p.Limits = p.Limits(),
          quiet: bool = False) -> OpenAIServer:
    """A server for every model of every installed inference engine (not yet serving)."""
    return OpenAIServer(Catalog(kernel), host, port, limits, quiet)
