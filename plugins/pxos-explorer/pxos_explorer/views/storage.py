"""The storage view: every registered backend, its objects, their pixels, downloads, and maps.

Everything goes through ``kernel.storage(scheme)`` and the Storage protocol
(``ls``, ``info``, ``verify``, ``copy_to``). An object's picture is the
backend's own ``show`` (what ``storage show`` draws) at the object's own width,
so each pixel on screen is one pixel of the object. A backend with a tile space
(``infinitemap://``) also opens as a pan-and-zoom map (:mod:`pxos_explorer.tiles`).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from typing import Any, Iterator
from urllib.parse import quote

from pxos_kernel import NotFoundError, PxosError

from pxos_explorer.drawing import drawn
from pxos_explorer.http import HttpError, Request, Route, Stream, json_response, png_response
from pxos_explorer.tiles import TilePyramid, tile_space

MAX_PICTURE_WIDTH = 2048
DOWNLOAD_CHUNK = 1 << 16


class StorageView:
    """``/storage``, ``/map/SCHEME`` and ``/api/storage/...``, ``/api/maps/...``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.kernel = app.kernel
        self._pyramids: dict[str, TilePyramid] = {}

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/storage", page=True),
            Route("GET", "/storage/{scheme}", page=True),
            Route("GET", "/storage/{scheme}/{key:path}", page=True),
            Route("GET", "/map/{scheme}", page=True),
            Route("GET", "/api/storage", self.backends),
            Route("GET", "/api/storage/{scheme}", self.objects),
            Route("GET", "/api/storage/{scheme}/objects/{key:path}", self.object),
            Route("POST", "/api/storage/{scheme}/verify/{key:path}", self.verify),
            Route("GET", "/api/storage/{scheme}/picture/{key:path}", self.picture),
            Route("GET", "/api/storage/{scheme}/download/{key:path}", self.download),
            Route("GET", "/api/maps/{scheme}", self.map),
            Route("GET", "/api/maps/{scheme}/tiles/{level}/{tx}/{ty}", self.tile),
        ]

    def _store(self, scheme: str) -> Any:
        registry = self.kernel.registry("storage")
        if scheme not in registry.names():
            raise NotFoundError(f"no storage backend {scheme!r} (registered: {', '.join(registry.names()) or 'none'})")
        return self.app.backend("storage", scheme)

    # -- listings ---------------------------------------------------------------------------------

    def backends(self, request: Request) -> Any:
        """Every registered backend, with how many objects it holds (or why it cannot say)."""
        registry = self.kernel.registry("storage")
        out = []
        for scheme in registry.names():
            entry = {"scheme": scheme, "plugin": registry.owner(scheme), "summary": registry.get(scheme).summary}
            try:
                store = self._store(scheme)
                entry["objects"] = len(store.ls(""))
                entry["map"] = tile_space(store) is not None
                entry["pictures"] = hasattr(store, "show")
            except PxosError as exc:
                entry["error"] = str(exc)
            out.append(entry)
        return json_response({"backends": out})

    def objects(self, request: Request) -> Any:
        """``storage ls SCHEME://PREFIX --json``, paged."""
        scheme = request.params["scheme"]
        store = self._store(scheme)
        prefix = request.arg("prefix", "") or ""
        limit = request.int_arg("limit", 100, 1, 1000)
        number = request.int_arg("page", 1, 1, 10**9)
        items = store.ls(prefix)
        chosen = items[(number - 1) * limit: number * limit]
        return json_response({"scheme": scheme, "prefix": prefix, "total": len(items), "page": number,
                              "limit": limit, "pages": max(1, -(-len(items) // limit)),
                              "map": tile_space(store) is not None, "pictures": hasattr(store, "show"),
                              "objects": [_info(scheme, i) for i in chosen]})

    def object(self, request: Request) -> Any:
        scheme, key = request.params["scheme"], request.params["key"]
        store = self._store(scheme)
        return json_response({**_info(scheme, store.info(key)), "pictures": hasattr(store, "show"),
                              "map": tile_space(store) is not None})

    def verify(self, request: Request) -> Any:
        """``storage verify``: every byte re-read and its checksum compared."""
        scheme, key = request.params["scheme"], request.params["key"]
        info = self._store(scheme).verify(key)
        return json_response({"ok": True, **_info(scheme, info)})

    # -- pixels and bytes --------------------------------------------------------------------------

    def picture(self, request: Request) -> Any:
        """The object's own pixels as a PNG (``storage show`` at the object's width, at most 2048)."""
        scheme, key = request.params["scheme"], request.params["key"]
        store = self._store(scheme)
        show = getattr(store, "show", None)
        if show is None:
            raise HttpError(404, f"storage backend {scheme!r} cannot draw its objects")
        info = store.info(key)
        width = info.meta.get("width") if isinstance(info.meta, dict) else None
        width = min(MAX_PICTURE_WIDTH, width if isinstance(width, int) and width > 0 else 512)
        width = request.int_arg("width", width, 1, MAX_PICTURE_WIDTH)
        with self.app.lock:  # a backend's own caches (the map's tiles) are not thread-safe
            data = drawn(lambda path: show(key, path, width=width))
        return png_response(data)

    def download(self, request: Request) -> Stream:
        """The object's bytes, checked in full before the first byte is sent."""
        scheme, key = request.params["scheme"], request.params["key"]
        store = self._store(scheme)
        spool = tempfile.TemporaryFile(prefix="pxos-explorer-")
        try:
            with self.app.lock:
                info = store.copy_to(key, spool)  # raises IntegrityError after the last block on damage
            length = spool.tell()
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        name = key.rsplit("/", 1)[-1] or "object"
        return Stream(_chunks(spool), info.content_type or "application/octet-stream", length=length,
                      headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                               "X-Pxos-Sha256": info.sha256})

    # -- maps --------------------------------------------------------------------------------------

    def _pyramid(self, scheme: str) -> TilePyramid:
        pyramid = self._pyramids.get(scheme)
        if pyramid is None:
            store = self._store(scheme)
            space = tile_space(store)
            if space is None:
                raise NotFoundError(f"storage backend {scheme!r} has no map of tiles to show")
            with self.app.lock:
                pyramid = self._pyramids.get(scheme) or TilePyramid(
                    space, self.kernel.state_dir("explorer", "tiles", scheme))
                self._pyramids[scheme] = pyramid
        return pyramid

    def map(self, request: Request) -> Any:
        """The map's extent, its levels, and its regions (one for each stored object's band)."""
        scheme = request.params["scheme"]
        pyramid = self._pyramid(scheme)
        store = self._store(scheme)
        regions = []
        for info in store.ls(""):
            meta = info.meta if isinstance(info.meta, dict) else {}
            if all(isinstance(meta.get(k), int) for k in ("x", "y", "width", "rows")):
                regions.append({"key": info.key, "x": meta["x"], "y": meta["y"], "width": meta["width"],
                                "height": meta["rows"], "size": info.size})
        return json_response({"scheme": scheme, **pyramid.describe(), "regions": regions})

    def tile(self, request: Request) -> Any:
        scheme = request.params["scheme"]
        try:
            level, tx, ty = (int(request.params[k]) for k in ("level", "tx", "ty"))
        except ValueError:
            raise HttpError(400, f"tile address {request.params} must be three integers (level, x, y)") from None
        return png_response(self._pyramid(scheme).tile(level, tx, ty), cache=True)


def _info(scheme: str, info: Any) -> dict:
    value = asdict(info)
    value["uri"] = f"{scheme}://{info.key}"
    return value


def _chunks(spool: Any) -> Iterator[bytes]:
    try:
        while True:
            block = spool.read(DOWNLOAD_CHUNK)
            if not block:
                return
            yield block
    finally:
        spool.close()

