"""``.pxa`` pixel archives: pack a directory tree into one PNG, and read it back safely.

An archive is a pixel container (:mod:`pxos_kernel.container`) of kind
``archive``. Its payload is the members' bytes laid end to end, in path
order, uncompressed (the PNG's own deflate compresses the whole). The
metadata lists each member::

    {"path": "pkg/mod.py", "offset": 0, "size": 120, "sha256": "...", "mode": 420}

Nothing in an archive is trusted: :func:`open_archive` checks the image size
against the declared payload before inflating anything (decompression bombs),
then every member path, its bounds and its sha256 before handing out a byte.
"""

from __future__ import annotations

import hashlib
import os
import struct
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Union

from pxos_kernel import FormatError, NotFoundError, file_sha256

from pxos_cartridge import boot
from pxos_cartridge.errors import ArchiveError, HostileArchiveError, MemberIntegrityError, PackError
from pxos_cartridge.manifest import DEFAULT_EXCLUDES, find_manifest, load_manifest, matches, selected

KIND = "archive"
#: Largest payload (and decoded image) :func:`open_archive` accepts unless told otherwise.
DEFAULT_MAX_SIZE = 512 * 1024 * 1024
MAX_MEMBERS = boot.MAX_MEMBERS
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel

PathLike = Union[str, "os.PathLike[str]"]


Member = boot.Member  # (path, offset, size, sha256, mode)


# -- packing ------------------------------------------------------------------------------


def _walk(source: Path, include: list[str], exclude: list[str]) -> Iterator[tuple[str, Path]]:
    """Yield ``(posix relative path, path)`` of every selected regular file, in sorted order."""
    for root, dirs, files in os.walk(source):
        rel_root = os.path.relpath(root, source).replace(os.sep, "/")
        rel_root = "" if rel_root == "." else rel_root + "/"
        # Prune excluded directories early so a huge .git is never even listed.
        dirs[:] = sorted(d for d in dirs if not any(matches(rel_root + d, p) for p in exclude))
        for name in dirs:
            if os.path.islink(os.path.join(root, name)):
                raise PackError(f"cannot pack {source}: {rel_root}{name} is a symbolic link "
                                "(archives hold regular files only; exclude it in the manifest)")
        for name in sorted(files):
            rel = rel_root + name
            full = Path(root, name)
            if not selected(rel, include, exclude):
                continue
            if full.is_symlink() or not full.is_file():
                raise PackError(f"cannot pack {source}: {rel} is not a regular file "
                                "(archives hold regular files only; exclude it in the manifest)")
            yield rel, full


def pack_tree(source: PathLike, dest: Union[PathLike, BinaryIO], *,
              manifest: Union[PathLike, Mapping[str, Any], None] = None, level: int = 6) -> dict:
    """Pack the files under ``source`` into the archive ``dest``; return the metadata written.

    ``manifest`` (a YAML path or a mapping) chooses what is packed with its
    ``include``/``exclude`` globs and is stored in the metadata as
    ``"cartridge"``; without one, ``source/cartridge.yaml`` is used if it
    exists. The result is deterministic: file order is sorted, modes are
    normalised to 0o644 or 0o755, and no time stamps are recorded.
    """
    root = Path(source)
    if not root.is_dir():
        raise PackError(f"cannot pack {source}: not a directory")
    if manifest is None:
        manifest = find_manifest(root)
    data = load_manifest(manifest)
    include = list(data.get("include", []))
    exclude = [*DEFAULT_EXCLUDES, *data.get("exclude", [])]
    if isinstance(dest, (str, os.PathLike)):
        # Never pack the archive into itself when it is written inside the tree.
        try:
            exclude.append(Path(dest).resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            pass
    files: dict[str, tuple[bytes, int]] = {}
    for rel, full in _walk(root, include, exclude):
        try:
            content = full.read_bytes()
            executable = full.stat().st_mode & 0o111
        except OSError as exc:
            raise PackError(f"cannot pack {source}: reading {rel} failed ({exc.strerror})") from None
        files[rel] = (content, 0o755 if executable else 0o644)
    return pack_members(dest, files, {"cartridge": data}, level=level)


def pack_members(dest: Union[PathLike, BinaryIO], files: Mapping[str, tuple[bytes, int]],
                 meta: Mapping[str, Any], *, level: int = 6) -> dict:
    """Write ``{member path: (bytes, mode)}`` as an archive, members in path order; return the metadata.

    ``meta`` adds keys to the container metadata (``cartridge``: the manifest;
    ``system``: what a system cartridge holds). Modes are normalised to 0o644
    or 0o755, and nothing else about the files is recorded, so the same files
    always give the same bytes.
    """
    from pxos_kernel.container import write_container

    members, chunks, offset = [], [], 0
    for path in sorted(files):
        content, mode = files[path]
        members.append({"path": checked_member_path(path), "offset": offset, "size": len(content),
                        "sha256": hashlib.sha256(content).hexdigest(), "mode": 0o755 if mode & 0o111 else 0o644})
        chunks.append(content)
        offset += len(content)
    return write_container(dest, b"".join(chunks), kind=KIND, meta={**meta, "members": members}, level=level)


def checked_member_path(path: str) -> str:
    """``path`` if it is a safe member path (relative, posix, no '..'), else PackError naming it."""
    if path.startswith("/") or "\\" in path or any(part in ("", ".", "..") for part in path.split("/")):
        raise PackError(f"cannot pack member {path!r}: not a relative posix path without '.' or '..'")
    return path


# -- reading ------------------------------------------------------------------------------


def _png_geometry(path: Path) -> tuple[int, int]:
    """``(height, bytes per row)`` of a PNG's image data, read from its IHDR without inflating."""
    with open(path, "rb") as stream:
        head = stream.read(33)
    if len(head) < 33 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise ArchiveError(f"{path}: not a PNG file, so not a pixel archive")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if colour not in _CHANNELS or depth not in (1, 2, 4, 8, 16):
        raise ArchiveError(f"{path}: PNG header has an invalid colour type {colour} or bit depth {depth}")
    return height, (width * _CHANNELS[colour] * depth + 7) // 8


class Archive(boot.Archive):
    """A validated pixel archive held in memory. Build one with :func:`open_archive`.

    The reading side (members, ``read``, ``is_dir``, ``extract``) is the boot
    shim's own (:class:`pxos_cartridge.boot.Archive`): one implementation
    serves both cartridges and the system.
    """

    @cached_property
    def sha256(self) -> str:
        """The sha256 of the .pxa file's bytes: its content address in the registry."""
        return file_sha256(self.path)

    def read(self, path: str) -> bytes:
        """The bytes of member ``path`` (NotFoundError naming it when there is none)."""
        if path not in self.members:
            raise NotFoundError(f"{self.path}: no member {path!r}")
        return super().read(path)

    def extract(self, dest: PathLike, prefix: str = "") -> Path:  # type: ignore[override]
        """Write every member (below ``prefix``) under ``dest`` (created if needed), with its mode."""
        return Path(super().extract(os.fspath(dest), prefix))

    def __repr__(self) -> str:
        return f"<Archive {self.path} members={len(self.members)} sha256={self.sha256[:12]}>"


def open_archive(path: PathLike, *, max_size: int = DEFAULT_MAX_SIZE) -> Archive:
    """Open and fully validate the archive at ``path`` (see the module docstring for what is checked)."""
    from pxos_kernel.container import read_container, read_container_meta

    archive = Path(path).absolute()
    if not archive.is_file():
        raise NotFoundError(f"archive {archive} does not exist")
    # A bomb is a small file whose image inflates to far more than any archive we accept:
    # refuse it from the PNG header alone, before anything is inflated.
    height, row = _png_geometry(archive)
    inflated = height * (row + 1)
    if inflated > max_size + 2 * row + height + 4096:
        raise HostileArchiveError(f"{archive}: refusing a possible decompression bomb: its image inflates to "
                                  f"{inflated} bytes (limit {max_size})")
    try:
        meta = read_container_meta(archive)
    except FormatError as exc:
        raise ArchiveError(f"{archive}: not a pixel archive ({exc})") from None
    if meta.get("kind") != KIND:
        raise ArchiveError(f"{archive}: a pixel container of kind {meta.get('kind')!r}, not {KIND!r}")
    length = meta["length"]
    if length > max_size:
        raise HostileArchiveError(f"{archive}: refusing a possible decompression bomb: its payload is "
                                  f"{length} bytes (limit {max_size})")
    members, directories = boot.check_members(meta, length, str(archive), ArchiveError, HostileArchiveError)
    try:
        payload, meta = read_container(archive, verify=True)
    except FormatError as exc:
        raise ArchiveError(f"{archive}: {exc}") from exc
    if len(payload) != length:
        raise ArchiveError(f"{archive}: payload has {len(payload)} bytes, metadata says {length}")
    view = memoryview(payload)
    for member in members.values():
        if hashlib.sha256(view[member.offset:member.offset + member.size]).hexdigest() != member.sha256:
            raise MemberIntegrityError(f"{archive}: member {member.path!r} does not match its sha256 "
                                       "(the archive was damaged or tampered with)")
    return Archive(archive, meta, payload, members, directories, verified=True, integrity=MemberIntegrityError)

