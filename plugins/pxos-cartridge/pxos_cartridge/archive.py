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
import re
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Union

from pxos_kernel import FormatError, NotFoundError, file_sha256

from pxos_cartridge.errors import ArchiveError, HostileArchiveError, MemberIntegrityError, PackError
from pxos_cartridge.manifest import DEFAULT_EXCLUDES, find_manifest, load_manifest, matches, selected

KIND = "archive"
#: Largest payload (and decoded image) :func:`open_archive` accepts unless told otherwise.
DEFAULT_MAX_SIZE = 512 * 1024 * 1024
MAX_MEMBERS = 200_000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Member:
    """One file inside an archive: where its bytes are in the payload and what they hash to."""

    path: str
    offset: int
    size: int
    sha256: str
    mode: int

    def as_dict(self) -> dict:
        return {"path": self.path, "offset": self.offset, "size": self.size, "sha256": self.sha256,
                "mode": self.mode}


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
    from pxos_kernel.container import write_container

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
    members, chunks, offset = [], [], 0
    for rel, full in _walk(root, include, exclude):
        try:
            content = full.read_bytes()
            executable = full.stat().st_mode & 0o111
        except OSError as exc:
            raise PackError(f"cannot pack {source}: reading {rel} failed ({exc.strerror})") from None
        members.append({"path": rel, "offset": offset, "size": len(content),
                        "sha256": hashlib.sha256(content).hexdigest(), "mode": 0o755 if executable else 0o644})
        chunks.append(content)
        offset += len(content)
    return write_container(dest, b"".join(chunks), kind=KIND, meta={"members": members, "cartridge": data},
                           level=level)


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


def _check_member_path(archive: Path, path: Any) -> str:
    if not isinstance(path, str) or not path:
        raise HostileArchiveError(f"{archive}: a member has no valid path ({path!r})")
    if path.startswith("/") or "\\" in path or "\x00" in path or re.match(r"^[A-Za-z]:", path):
        raise HostileArchiveError(f"{archive}: member {path!r} has an absolute path")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise HostileArchiveError(f"{archive}: member {path!r} has a '..', '.' or empty path component")
    return path


def _members(archive: Path, meta: dict, length: int) -> dict[str, Member]:
    """Validate the member table against the payload length: paths, duplicates, exact tiling."""
    table = meta.get("members")
    if not isinstance(table, list):
        raise ArchiveError(f"{archive}: metadata has no member list")
    if len(table) > MAX_MEMBERS:
        raise HostileArchiveError(f"{archive}: {len(table)} members is more than the limit of {MAX_MEMBERS}")
    members: dict[str, Member] = {}
    end = 0
    for entry in table:
        if not isinstance(entry, dict):
            raise ArchiveError(f"{archive}: a member entry is not an object")
        path = _check_member_path(archive, entry.get("path"))
        if path in members:
            raise HostileArchiveError(f"{archive}: member {path!r} appears twice")
        numbers = [entry.get("offset"), entry.get("size"), entry.get("mode")]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in numbers):
            raise ArchiveError(f"{archive}: member {path!r} has a non-integer offset, size or mode")
        offset, size, mode = (v for v in numbers if isinstance(v, int))
        digest = entry.get("sha256")
        if offset < 0 or size < 0 or offset + size > length:
            raise HostileArchiveError(f"{archive}: member {path!r} (offset {offset}, size {size}) points outside "
                                      f"the {length}-byte payload")
        if offset != end:
            raise HostileArchiveError(f"{archive}: member {path!r} starts at {offset}, not at {end} where the "
                                      "previous member ends (members must not overlap or leave gaps)")
        if not isinstance(digest, str) or not _SHA256.match(digest) or not 0 <= mode <= 0o7777:
            raise ArchiveError(f"{archive}: member {path!r} has an invalid sha256 or mode")
        end = offset + size
        members[path] = Member(path, offset, size, digest, mode)
    if end != length:
        raise HostileArchiveError(f"{archive}: members cover {end} bytes but the payload has {length}")
    directories = {p.rsplit("/", n)[0] for p in members for n in range(1, p.count("/") + 1)}
    clash = directories & members.keys()
    if clash:
        raise HostileArchiveError(f"{archive}: {sorted(clash)[0]!r} is both a file and a directory")
    return members


class Archive:
    """A validated pixel archive held in memory. Build one with :func:`open_archive`."""

    def __init__(self, path: Path, metadata: dict, payload: bytes, members: dict[str, Member]) -> None:
        self.path = path
        self.metadata = metadata
        self.members = members
        self._payload = memoryview(payload)
        self._dirs = {p.rsplit("/", n)[0] for p in members for n in range(1, p.count("/") + 1)}

    @cached_property
    def sha256(self) -> str:
        """The sha256 of the .pxa file's bytes: its content address in the registry."""
        return file_sha256(self.path)

    @property
    def manifest(self) -> dict:
        """The cartridge manifest stored at pack time (``{}`` when there was none)."""
        return dict(self.metadata.get("cartridge") or {})

    def names(self) -> list[str]:
        return list(self.members)

    def read(self, path: str) -> bytes:
        """The bytes of member ``path``."""
        member = self.members.get(path)
        if member is None:
            raise NotFoundError(f"{self.path}: no member {path!r}")
        return self._payload[member.offset:member.offset + member.size].tobytes()

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory implied by the members ("" is the root)."""
        return path == "" or path.strip("/") in self._dirs

    def extract(self, dest: PathLike) -> Path:
        """Write every member under ``dest`` (created if needed), with its mode; return ``dest``."""
        root = Path(dest)
        for member in self.members.values():
            target = root.joinpath(*member.path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read(member.path))
            os.chmod(target, member.mode & 0o777)
        return root

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
    members = _members(archive, meta, length)
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
    return Archive(archive, meta, payload, members)

