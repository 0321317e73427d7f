"""Genesis §1: code and data are RGB pixels, lossless, viewable as image and as data.

The archive and every pixel file inside it are decoded by Pillow, a decoder
independent of pxOS's own: if its pixels give back the exact payload (same
length, same sha256 as the container metadata says), nothing was lost.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

from pxos_genesis.checks import bad, check, judge, plural
from pxos_genesis.subject import Candidate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PIXEL_SUFFIXES = (".png", ".pxi", ".pxa")
_RGB = 2  # PNG colour type of truecolour without alpha


def png_header(data: bytes) -> tuple[int, int, int, int]:
    """``(width, height, bit_depth, colour_type)`` from a PNG's IHDR; ValueError if it is not a PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG (bad signature or no IHDR first)")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def pillow_available() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def decoder() -> str:
    """Which PNG decoder judges the pixels: Pillow, else pxOS's own (a pure-Python system has no Pillow)."""
    return "Pillow" if pillow_available() else ("pxOS's own PNG reader (Pillow, the independent decoder, is not in "
                                                "this system: 'world pack --native' carries it)")


def decode_with_pillow(data: bytes) -> bytes:
    """All pixel bytes of a PNG as Pillow decodes them (raises on any damage); without Pillow, as the
    kernel's container reader decodes them (every chunk CRC, zlib and row filter checked)."""
    if not pillow_available():
        from pxos_kernel.container import read_container

        meta = container_meta(data)
        payload, meta = read_container(io.BytesIO(data), plain=meta is None, verify=True)
        return payload + bytes(meta["width"] * meta["height"] * 3 - len(payload))  # verify checked the padding
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.format != "PNG":
            raise ValueError(f"Pillow reads it as {image.format}, not PNG")
        image.load()
        return image.tobytes()


def container_meta(data: bytes) -> dict | None:
    """The pxos container metadata of a PNG, or ``None`` for a plain image."""
    from pxos_kernel.container import read_container_meta

    try:
        return read_container_meta(io.BytesIO(data))
    except Exception:
        return None


def lossless_problem(data: bytes, meta: Mapping[str, Any]) -> str:
    """Why Pillow's pixels do not give back the payload the metadata describes ("" when they do)."""
    pixels = decode_with_pillow(data)
    length = int(meta.get("length", -1))
    if not 0 <= length <= len(pixels):
        return f"metadata length {length} does not fit in {len(pixels)} pixel bytes"
    digest = hashlib.sha256(pixels[:length]).hexdigest()
    if digest != meta.get("sha256"):
        return f"pixels decode to sha256 {digest[:16]}..., the metadata says {str(meta.get('sha256'))[:16]}..."
    if any(pixels[length:]):
        return "the padding after the payload is not zero"
    return ""


def pixel_files(candidate: Candidate) -> Iterator[tuple[str, bytes]]:
    """The archive itself, then every pixel file inside it: (name, bytes)."""
    yield candidate.archive_path.name, candidate.archive_path.read_bytes()
    archive = candidate.archive
    for name in archive.names():
        if name.lower().endswith(PIXEL_SUFFIXES):
            yield name, archive.read(name)


@check("archive_is_rgb_png")
def archive_is_rgb_png(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    problems, shapes = [], []
    for name, data in pixel_files(candidate):
        try:
            width, height, depth, colour = png_header(data)
            decode_with_pillow(data)
        except Exception as exc:
            problems.append((f"not a decodable PNG: {exc}", name))
            continue
        shapes.append(f"{width}x{height}")
        if name == candidate.archive_path.name and (depth, colour) != (8, _RGB):
            problems.append((f"the archive is a PNG of bit depth {depth}, colour type {colour}, not 8-bit RGB", name))
    archive = candidate.archive
    return judge(problems, f"the cartridge's {plural(len(archive.names()), 'member')} (all its code and data) are "
                 f"the pixels of {candidate.archive_path.name}, an {shapes[0] if shapes else '?'} 8-bit RGB PNG; "
                 f"{plural(len(shapes), 'pixel file')} decoded by {decoder()}")


@check("pixels_lossless")
def pixels_lossless(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    problems, containers = [], 0
    for name, data in pixel_files(candidate):
        meta = candidate.archive.metadata if name == candidate.archive_path.name else container_meta(data)
        if meta is None:
            continue
        containers += 1
        try:
            problem = lossless_problem(data, meta)
        except Exception as exc:
            problem = f"Pillow cannot decode it: {exc}"
        if problem:
            problems.append((problem, name))
    repack = _repack_problem(candidate)
    if repack:
        problems.append((repack, candidate.archive_path.name))
    return judge(problems, f"{plural(containers, 'pixel container')} decoded by {decoder()} give back their exact "
                 "payload "
                 "(sha256 of the pixels equals the metadata); unpacking and packing the archive again gave the "
                 "same members and payload" + ("" if not repack else " -- NOT"))


def _repack_problem(candidate: Candidate) -> str:
    """Deterministic: the extracted tree packs (twice) to the same members and payload."""
    from pxos_cartridge.archive import open_archive, pack_tree

    archive = candidate.archive
    if archive.metadata.get("system"):
        return _repack_members(archive)
    with tempfile.TemporaryDirectory(prefix="pxos-genesis-repack-") as tmp:
        tree = archive.extract(Path(tmp) / "tree")
        first, second = Path(tmp) / "a.pxa", Path(tmp) / "b.pxa"
        pack_tree(tree, first, manifest=archive.manifest or None)
        pack_tree(tree, second, manifest=archive.manifest or None)
        if first.read_bytes() != second.read_bytes():
            return "packing the same tree twice gave different bytes"
        again = open_archive(first)
        if again.metadata.get("sha256") != archive.metadata.get("sha256"):
            return "packing the extracted tree again gave a different payload"
        if [(m.path, m.sha256, m.mode) for m in again.members.values()] != \
                [(m.path, m.sha256, m.mode) for m in archive.members.values()]:
            return "packing the extracted tree again gave a different member list"
    return ""


def _repack_members(archive: Any) -> str:
    """A system cartridge (not packed from one tree): its members packed twice give the same bytes and payload."""
    from pxos_cartridge.archive import pack_members

    files = {m.path: (archive.read(m.path), m.mode) for m in archive.members.values()}
    meta = {k: archive.metadata[k] for k in ("cartridge", "system") if k in archive.metadata}
    first, second = io.BytesIO(), io.BytesIO()
    written = pack_members(first, files, meta, level=1)
    pack_members(second, files, meta, level=1)
    if first.getvalue() != second.getvalue():
        return "packing the same members twice gave different bytes"
    if written["sha256"] != archive.metadata.get("sha256"):
        return "packing its members again gave a different payload"
    return ""


@check("pixels_viewable")
def pixels_viewable(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    from pxos_kernel.container import read_container

    problems, images, data_files = [], 0, 0
    for name, data in pixel_files(candidate):
        try:
            decode_with_pillow(data)
            images += 1
        except Exception as exc:
            problems.append((f"not viewable as an image: {exc}", name))
            continue
        if name == candidate.archive_path.name or container_meta(data) is not None:
            try:
                read_container(io.BytesIO(data), verify=True)
                data_files += 1
            except Exception as exc:
                problems.append((f"viewable, but not readable as data: {exc}", name))
        else:
            data_files += 1  # a plain image: its pixels are its data
    if not images:
        return bad("no pixel file was found", ["the cartridge has no pixel file"])
    return judge(problems, f"{plural(images, 'pixel file')} opened as images by {decoder()} and "
                 f"{data_files} read back as data (pxOS container reader, sha256 verified)")
