"""``storage put|get|ls|info|verify|show|backends`` over any registered backend."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import asdict
from typing import Optional

from pxos_kernel.output import add_json_flag, print_json, print_table
from pxos_kernel.progressbar import Progress, progress, progress_shown
from pxos_kernel.errors import PxosError, StorageError, UsageError


def split_uri(uri: str) -> tuple[str, str]:
    """``pixelfs://a/b.png`` -> ``("pixelfs", "a/b.png")``."""
    scheme, sep, key = uri.partition("://")
    if not sep or not scheme:
        raise UsageError(f"{uri!r} is not a storage URI of the form SCHEME://KEY")
    return scheme, key


def _store(args, uri):
    scheme, key = split_uri(uri)
    return args.kernel.storage(scheme), key


def configure_storage_put(parser) -> None:
    parser.add_argument("source", help="file to store, or - for stdin")
    parser.add_argument("uri", help="destination SCHEME://KEY")
    parser.add_argument("--content-type", help="MIME type to record")
    add_json_flag(parser)


def run_storage_put(args) -> int:
    store, key = _store(args, args.uri)
    try:
        stream = sys.stdin.buffer if args.source == "-" else open(args.source, "rb")
    except OSError as exc:
        raise StorageError(f"cannot read {args.source}: {exc.strerror}") from None
    with stream, _transfer("storage put", _size(stream)) as bar:
        info = store.put(key, bar.reader(stream), content_type=args.content_type)
    _report(args, info)
    return 0


def configure_storage_get(parser) -> None:
    parser.add_argument("uri", help="SCHEME://KEY")
    parser.add_argument("-o", "--output", help="write here (atomically) instead of stdout")
    parser.add_argument("--offset", type=int, default=0, help="first byte to read")
    parser.add_argument("--length", type=int, help="number of bytes to read")


def run_storage_get(args) -> int:
    store, key = _store(args, args.uri)
    if args.offset or args.length is not None:
        data = store.get(key, args.offset, args.length)
        if args.output:
            from pxos_kernel.files import atomic_write

            atomic_write(args.output, data)
        else:
            sys.stdout.buffer.write(data)
        return 0
    size = store.info(key).size if progress_shown() else None  # an extra read only where a bar will use it
    with _transfer("storage get", size) as bar:
        if args.output:
            from pxos_kernel.files import atomic_writer

            with atomic_writer(args.output) as out:
                store.copy_to(key, bar.writer(out))
        else:
            store.copy_to(key, bar.writer(sys.stdout.buffer))
    return 0


def _transfer(command: str, size: Optional[int]) -> Progress:
    """The progress of a whole-object ``put`` or ``get``: a bar once it has taken half a second (a big object)."""
    return progress(description=command, total=size, unit="B", delay=0.5)


def _size(stream) -> Optional[int]:
    """Bytes left to read in ``stream`` when it is a regular file (``None`` for a pipe: the bar then counts)."""
    try:
        status = os.fstat(stream.fileno())
        return status.st_size - stream.tell() if stat.S_ISREG(status.st_mode) else None
    except (OSError, ValueError, AttributeError):
        return None


def configure_storage_ls(parser) -> None:
    parser.add_argument("uri", help="SCHEME:// or SCHEME://PREFIX")
    add_json_flag(parser)


def run_storage_ls(args) -> int:
    store, prefix = _store(args, args.uri)
    items = store.ls(prefix)
    if args.json:
        print_json([asdict(i) for i in items])
    else:
        print_table(["key", "size", "kind", "sha256"], [[i.key, i.size, i.kind, i.sha256[:16]] for i in items])
    return 0


def configure_storage_info(parser) -> None:
    parser.add_argument("uri", help="SCHEME://KEY")
    add_json_flag(parser)


def run_storage_info(args) -> int:
    store, key = _store(args, args.uri)
    _report(args, store.info(key))
    return 0


def configure_storage_verify(parser) -> None:
    parser.add_argument("uri", help="SCHEME://KEY")
    add_json_flag(parser)


def run_storage_verify(args) -> int:
    store, key = _store(args, args.uri)
    info = store.verify(key)
    if args.json:
        print_json({"ok": True, **asdict(info)})
    else:
        print(f"ok: {args.uri} {info.size} bytes sha256 {info.sha256}")
    return 0


def configure_storage_show(parser) -> None:
    parser.add_argument("uri", help="SCHEME://KEY")
    parser.add_argument("-o", "--output", required=True, help="PNG file to write")
    parser.add_argument("--width", type=int, default=512, help="target width of the preview in pixels")
    add_json_flag(parser)


def run_storage_show(args) -> int:
    store, key = _store(args, args.uri)
    show = getattr(store, "show", None)
    if show is None:
        raise PxosError(f"storage backend {split_uri(args.uri)[0]!r} cannot draw previews")
    drawn = show(key, args.output, width=args.width)
    if args.json:
        print_json({"output": args.output, **(drawn or {})})
    else:
        print(f"wrote {args.output}")
    return 0


def configure_storage_backends(parser) -> None:
    add_json_flag(parser)


def run_storage_backends(args) -> int:
    registry = args.kernel.registry("storage")
    rows = [[n, registry.owner(n), registry.get(n).summary] for n in registry.names()]
    if args.json:
        print_json([{"scheme": s, "plugin": p, "summary": d} for s, p, d in rows])
    else:
        print_table(["scheme", "plugin", "summary"], rows)
    return 0


def _report(args, info) -> None:
    if args.json:
        print_json(asdict(info))
    else:
        print(f"{info.key}: {info.size} bytes, kind {info.kind}, sha256 {info.sha256}")
