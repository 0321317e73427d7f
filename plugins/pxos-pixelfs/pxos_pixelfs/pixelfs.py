"""``pixelfs://KEY``: every object is one pixel container, ``ROOT/KEY.pxi``, a real PNG.

The container format and codec are the kernel's (:mod:`pxos_kernel.container`);
this module maps keys to files and container metadata to :class:`ObjectInfo`.
Settings (config section ``storage.pixelfs``): ``root`` (set by the kernel),
``level`` (zlib level 0-9, default 6) and ``width`` (image width in pixels,
default: square images).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO, Mapping, Optional, Union

from pxos_kernel import IntegrityError, NotFoundError, ObjectInfo, container

from pxos_pixelfs.keys import check_key
from pxos_pixelfs.settings import int_setting, root_setting

SCHEME = "pixelfs"
SUFFIX = ".pxi"
KIND = "blob"


class PixelFS:
    """A directory of pixel containers, one a key (meets :class:`pxos_kernel.interfaces.Storage`)."""

    def __init__(self, root: Union[str, os.PathLike], *, level: int = 6, width: Optional[int] = None) -> None:
        self.root = Path(root)
        self.level = level
        self.width = width

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "PixelFS":
        return cls(root_setting(settings, SCHEME),
                   level=int_setting(settings, SCHEME, "level", 6, 0, 9),
                   width=int_setting(settings, SCHEME, "width", None, 1, container.MAX_PNG_DIMENSION))

    def path(self, key: str) -> Path:
        """The container file of ``key``."""
        *folders, name = check_key(SCHEME, key).split("/")
        return self.root.joinpath(*folders, name + SUFFIX)

    def _existing(self, key: str) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise NotFoundError(f"{SCHEME}://{key}: no such object (no {path})")
        return path

    # -- the Storage protocol --------------------------------------------------------------

    def put(self, key: str, data: Union[bytes, BinaryIO], *, content_type: Optional[str] = None) -> ObjectInfo:
        """Write ``data`` as ``ROOT/KEY.pxi`` (atomically: a crash leaves the old object or none)."""
        meta = {} if content_type is None else {"content_type": content_type}
        written = container.write_container(self.path(key), data, kind=KIND, meta=meta, level=self.level,
                                            width=self.width)
        return _info(key, written)

    def get(self, key: str, offset: int = 0, length: Optional[int] = None) -> bytes:
        """The whole object (sha256 checked) or a range of it (inflating only up to the range end)."""
        path = self._existing(key)
        if offset == 0 and length is None:
            return container.read_container(path)[0]
        return container.read_range(path, offset, length)

    def copy_to(self, key: str, out: BinaryIO) -> ObjectInfo:
        """Stream the object into ``out`` block by block; IntegrityError after the last block on damage."""
        path = self._existing(key)
        for block in container.iter_payload(path):
            out.write(block)
        return self.info(key)

    def info(self, key: str) -> ObjectInfo:
        return _info(key, container.read_container_meta(self._existing(key)))

    def ls(self, prefix: str = "") -> list[ObjectInfo]:
        return [self.info(key) for key in sorted(self._keys()) if key.startswith(prefix)]

    def verify(self, key: str) -> ObjectInfo:
        """Re-read every byte of the object and check its sha256 and the PNG's CRCs."""
        path = self._existing(key)
        digest, size = hashlib.sha256(), 0
        for block in container.iter_payload(path):
            digest.update(block)
            size += len(block)
        info = self.info(key)
        if digest.hexdigest() != info.sha256 or size != info.size:  # iter_payload checks too; say it twice
            raise IntegrityError(f"{SCHEME}://{key}: stored bytes do not match the recorded sha256")
        return info

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def close(self) -> None:
        """Nothing is buffered: every put is on disk when it returns."""

    # -- beyond the protocol -------------------------------------------------------------------

    def show(self, key: str, output: Union[str, os.PathLike], *, width: int = 512) -> dict:
        """Write a viewable PNG preview of the object's pixels to ``output`` (see :mod:`pxos_pixelfs.preview`)."""
        from pxos_pixelfs.preview import container_rows, write_preview

        blocks, columns, rows, meta = container_rows(self._existing(key))
        return write_preview(blocks, columns, rows, output, width=width,
                             meta={"source": f"{SCHEME}://{key}", "source_sha256": meta["sha256"]})

    def _keys(self):
        if not self.root.is_dir():
            return
        for directory, subdirs, files in os.walk(self.root):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            relative = Path(directory).relative_to(self.root).parts
            for name in files:
                if name.endswith(SUFFIX) and not name.startswith("."):
                    yield "/".join((*relative, name[:-len(SUFFIX)]))


def _info(key: str, meta: Mapping[str, Any]) -> ObjectInfo:
    extra = {k: v for k, v in meta.items() if k not in ("length", "sha256", "kind", "content_type")}
    return ObjectInfo(key=key, size=meta["length"], sha256=meta["sha256"], kind=meta["kind"],
                      content_type=meta.get("content_type"), meta=extra)
