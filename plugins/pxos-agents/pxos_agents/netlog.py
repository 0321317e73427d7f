"""An httpx transport that asks for consent before, and writes the ledger after, every request.

Every request an agent makes goes through :class:`LedgeredTransport`, handed to
the ``openai`` client as its ``http_client``. So retries, streaming and model
listings are all covered, not only the calls we remember to wrap. A record
holds host, port, method, path, bytes sent and received, status and duration,
and never a header: the API key travels in ``Authorization`` and is not
logged.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

import httpx

NET_CORRIDOR = "DISTRICT_8.CHAMBER_NETWORK.NODE_REQUEST"


class _CountingStream(httpx.SyncByteStream):
    """Counts the bytes of a response body and logs the request when it is closed."""

    def __init__(self, inner: httpx.SyncByteStream, done: Callable[[int, Optional[str]], None]) -> None:
        self._inner = inner
        self._done = done
        self._size = 0
        self._error: Optional[str] = None
        self._logged = False

    def __iter__(self):
        try:
            for chunk in self._inner:
                self._size += len(chunk)
                yield chunk
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            raise

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            if not self._logged:
                self._logged = True
                self._done(self._size, self._error)


class LedgeredTransport(httpx.BaseTransport):
    """Wraps a transport: checks consent per host, logs every request to the ledger.

    ``consent(host)`` raises when the host is not allowed; ``record(payload)``
    writes one ledger record (the kernel's checkpoint, bound to the agent).
    """

    def __init__(self, consent: Callable[[str], None], record: Callable[[dict], Any],
                 inner: Optional[httpx.BaseTransport] = None) -> None:
        self._consent = consent
        self._record = record
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        base = {"host": host, "port": request.url.port, "method": request.method, "path": request.url.path,
                "request_bytes": int(request.headers.get("content-length") or 0)}
        try:
            self._consent(host)
        except Exception as exc:
            self._record({**base, "status": None, "duration": 0.0, "response_bytes": 0,
                          "error": f"refused: {exc}"})
            raise
        start = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
        except Exception as exc:
            self._record({**base, "status": None, "duration": round(time.perf_counter() - start, 6),
                          "response_bytes": 0, "error": f"{type(exc).__name__}: {exc}"})
            raise

        def done(size: int, error: Optional[str]) -> None:
            self._record({**base, "status": response.status_code, "response_bytes": size,
                          "duration": round(time.perf_counter() - start, 6), "error": error})

        response.stream = _CountingStream(response.stream, done)  # type: ignore[arg-type]  # a sync transport
        return response

    def close(self) -> None:
        self._inner.close()
