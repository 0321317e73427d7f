"""The explorer application: its views, its page, its token.

:class:`Explorer` gathers the routes of every view (ledger, cartridges,
storage and maps, models, system), answers page paths with the one page in
``static/`` (whose script renders each view from its JSON endpoint), and
serves the static assets from the package through ``importlib.resources``.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import secrets
import threading
from http.cookies import SimpleCookie
from importlib.resources import files
from typing import Any, Iterable, Optional

from pxos_explorer.http import HttpError, Request, Response, Route, Router, Stream

STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".ico": "image/x-icon"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Explorer:
    """The app behind one server: ``Explorer(kernel)``, then :meth:`dispatch` each request."""

    def __init__(self, kernel: Any, *, token: Optional[str] = None, hosts: Iterable[str] = LOOPBACK) -> None:
        self.kernel = kernel
        self.token = token or secrets.token_urlsafe(24)
        self.hosts = set(hosts)
        self.port = 0
        self.lock = threading.RLock()  # for building kernel backends, which the kernel does not lock
        self._static: dict[str, tuple[bytes, bytes, str, str]] = {}
        from pxos_explorer.views import all_views

        self.views = all_views(self)
        self.router = Router(route for view in self.views for route in view.routes())
        self.router.add(Route("GET", "/", page=True))

    # -- access -----------------------------------------------------------------------------------

    @property
    def cookie_name(self) -> str:
        return f"pxos_explorer_{self.port}"  # cookies ignore ports: one name per server

    def cookie_header(self) -> str:
        return f"{self.cookie_name}={self.token}; Path=/; HttpOnly; SameSite=Strict"

    def token_from_cookie(self, header: str) -> str:
        cookie = SimpleCookie()
        try:
            cookie.load(header)
        except Exception:  # noqa: BLE001 - a malformed cookie is simply no token
            return ""
        morsel = cookie.get(self.cookie_name)
        return morsel.value if morsel else ""

    def host_allowed(self, host_header: str) -> bool:
        host = host_header.strip().lower()
        if host.startswith("["):
            name, _, port = host[1:].partition("]")
            port = port.lstrip(":")
        else:
            name, _, port = host.partition(":")
        return name in self.hosts and (not port or port == str(self.port))

    def origin_allowed(self, origin: str) -> bool:
        scheme, _, rest = origin.partition("://")
        return scheme == "http" and self.host_allowed(rest)

    # -- dispatch ---------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response | Stream:
        route, params = self.router.match(request.method, request.path)
        request.params = params
        if route.page:
            return self.page()
        assert route.handler is not None
        return route.handler(request)

    def backend(self, family: str, name: str) -> Any:
        """``kernel.storage(name)`` or ``kernel.engine(name)``, built once even when requests race."""
        with self.lock:
            return self.kernel.storage(name) if family == "storage" else self.kernel.engine(name)

    # -- the page and the assets --------------------------------------------------------------

    def page(self) -> Response:
        shell = self._asset("index.html")[0].decode("utf-8")
        version = self._asset("app.js")[3][:12]
        shell = shell.replace("{{token}}", html.escape(self.token)).replace("{{v}}", version)
        return Response(shell.encode("utf-8"), content_type=STATIC_TYPES[".html"],
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                                 "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"})

    def error_page(self, body: dict) -> Response:
        text = html.escape(body["error"])
        page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>pxOS explorer: error "
                f"{body['status']}</title><link rel=stylesheet href=/static/app.css></head><body class=error-page>"
                f"<main><h1>{body['status']}</h1><p role=alert>{text}</p></main></body></html>")
        return Response(page.encode("utf-8"), content_type=STATIC_TYPES[".html"], status=body["status"])

    def static(self, path: str, request: Request) -> Response:
        name = "favicon.svg" if path == "/favicon.ico" else path[len("/static/"):]
        if "/" in name or name.startswith(".") or name == "index.html":
            raise HttpError(404, f"no static file {name!r}")
        plain, packed, content_type, etag = self._asset(name)
        headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=86400"}
        if request.headers.get("if-none-match") == f'"{etag}"':
            return Response(b"", content_type=content_type, status=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", "") and len(packed) < len(plain):
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
            return Response(packed, content_type=content_type, headers=headers)
        return Response(plain, content_type=content_type, headers=headers)

    def _asset(self, name: str) -> tuple[bytes, bytes, str, str]:
        cached = self._static.get(name)
        if cached is None:
            resource = files("pxos_explorer").joinpath("static", name)
            if not resource.is_file():
                raise HttpError(404, f"no static file {name!r}")
            data = resource.read_bytes()
            suffix = name[name.rfind("."):]
            cached = (data, gzip.compress(data, 9, mtime=0), STATIC_TYPES.get(suffix, "application/octet-stream"),
                      hashlib.sha256(data).hexdigest()[:20])
            self._static[name] = cached
        return cached

    def close(self) -> None:
        for view in self.views:
            close = getattr(view, "close", None)
            if close:
                close()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
