"""Requests, responses and routes: the small vocabulary every view is written in.

A view registers :class:`Route` objects; a route's handler takes a
:class:`Request` and returns a :class:`Response` (or a :class:`Stream` for
server-sent events and downloads). Errors are raised as
:class:`~pxos_kernel.errors.PxosError` (or :class:`HttpError` for a status of
its own) and turned into one JSON error by the server.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Union
from urllib.parse import parse_qs

from pxos_kernel import PxosError

MAX_BODY = 1 << 20  # a form or JSON body; nothing the explorer accepts is bigger
MAX_JSON_DEPTH = 32


class HttpError(PxosError):
    """An error with its own HTTP status (400 bad request, 404, 409 conflict, 413, 503 ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    """One HTTP request, as a handler sees it."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The last value of query parameter ``name`` (empty values count as absent)."""
        values = [v for v in self.query.get(name, []) if v != ""]
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        """Every non-empty value of a repeated query parameter."""
        return [v for v in self.query.get(name, []) if v != ""]

    def int_arg(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query parameter within ``[low, high]``; a clear 400 otherwise."""
        raw = self.arg(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise HttpError(400, f"query parameter {name}={raw!r} is not an integer") from None
        if not low <= value <= high:
            raise HttpError(400, f"query parameter {name}={value} is out of range ({low} to {high})")
        return value

    def json(self) -> dict:
        """The body as a JSON object (400 when it is not one)."""
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, f"the request body is not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise HttpError(400, "the request body must be a JSON object")
        if _depth(value) > MAX_JSON_DEPTH:
            raise HttpError(400, f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
        return value


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def parse_query(text: str) -> dict[str, list[str]]:
    return parse_qs(text, keep_blank_values=True)


@dataclass
class Response:
    """A whole response held in memory."""

    body: bytes
    content_type: str = "application/json"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """A response produced piece by piece; the connection closes after the last piece.

    ``length`` (when known) is sent as Content-Length; server-sent events leave it out.
    """

    chunks: Iterable[bytes]
    content_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    length: Optional[int] = None


Handler = Callable[[Request], Union[Response, Stream]]


def json_response(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8"), status=status)


def png_response(data: bytes, *, cache: bool = False) -> Response:
    headers = {"Cache-Control": "private, max-age=3600" if cache else "no-store"}
    return Response(data, content_type="image/png", headers=headers)


def sse_event(event: str, data: Any, event_id: Optional[str] = None) -> bytes:
    """One server-sent event (``data`` as JSON on one line)."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode("utf-8")


def sse_stream(events: Iterator[bytes]) -> Stream:
    return Stream(events, "text/event-stream; charset=utf-8",
                  headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@dataclass(frozen=True)
class Route:
    """``METHOD`` and a path pattern whose ``{name}`` parts become ``request.params``.

    ``{name}`` matches one path segment; ``{name:path}`` matches the rest of the path.
    ``page=True`` marks a path the browser navigates to: it is answered with the
    app's page, whose script then calls the JSON endpoints.
    """

    method: str
    pattern: str
    handler: Optional[Handler] = None
    page: bool = False

    def compile(self) -> re.Pattern:
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", self.pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        return re.compile(f"^{regex}$")


class Router:
    """Routes in registration order; the first match wins."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._routes: list[tuple[Route, re.Pattern]] = []
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> None:
        self._routes.append((route, route.compile()))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for ``method path``: 404 when no path matches, 405 when only the method is wrong."""
        allowed = []
        for route, regex in self._routes:
            found = regex.match(path)
            if found:
                if route.method == method or (method == "HEAD" and route.method == "GET"):
                    return route, {k: v for k, v in found.groupdict().items()}
                allowed.append(route.method)
        if allowed:
            raise HttpError(405, f"{method} is not allowed on {path} (allowed: {', '.join(sorted(set(allowed)))})")
        raise HttpError(404, f"no such page or endpoint: {path}")


#: The HTTP status of each kind of pxOS error (the most specific class listed wins).
STATUS_OF_ERROR = (
    ("NotFoundError", 404),
    ("PromotionRefused", 409),
    ("ConflictError", 409),
    ("GuardrailError", 409),
    ("IntegrityError", 422),
    ("FormatError", 422),
    ("LedgerCorruptError", 422),
    ("InferenceError", 503),
    ("SandboxError", 503),
)


def status_of(error: BaseException) -> int:
    if isinstance(error, HttpError):
        return error.status
    names = {cls.__name__ for cls in type(error).__mro__}
    for name, status in STATUS_OF_ERROR:
        if name in names:
            return status
    return 400 if isinstance(error, PxosError) else 500


def error_body(error: BaseException, status: int) -> dict:
    return {"error": str(error) or type(error).__name__, "type": type(error).__name__, "status": status}
