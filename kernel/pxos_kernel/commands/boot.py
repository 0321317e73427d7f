"""``boot targets|build|run`` over any registered boot emitter."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pxos_kernel.output import add_json_flag, print_json, print_table
from pxos_kernel.errors import BootError


def _emitter(args):
    name = args.target or args.kernel.default_name("boot")
    return args.kernel.registry("boot").get(name)


def configure_boot_targets(parser) -> None:
    add_json_flag(parser)


def run_boot_targets(args) -> int:
    registry = args.kernel.registry("boot")
    rows = [[t, registry.owner(t), "yes" if registry.get(t).run else "no", registry.get(t).summary]
            for t in registry.names()]
    if args.json:
        print_json([{"target": t, "plugin": p, "runnable": r == "yes", "summary": s} for t, p, r, s in rows])
    else:
        print_table(["target", "plugin", "runnable", "summary"], rows)
    return 0


def configure_boot_build(parser) -> None:
    parser.add_argument("--target", help="boot target (default: the world's)")
    parser.add_argument("--source", help="source to build (default: the emitter's own)")
    parser.add_argument("-o", "--output", help="image file (default: PXOS_HOME/boot/TARGET.img)")
    parser.add_argument("--floppy", action="store_true", help="pad to a 1.44 MB floppy image")
    parser.add_argument("--listing", help="also write the assembler listing here")
    add_json_flag(parser)


def run_boot_build(args) -> int:
    from pxos_kernel.files import atomic_write
    from pxos_kernel.interfaces import BootRequest

    emitter = _emitter(args)
    image = emitter.emit(BootRequest(args.source, {"floppy": args.floppy}))
    output = Path(args.output) if args.output else args.kernel.state_dir("boot") / f"{emitter.target}.img"
    atomic_write(output, image.data)
    if args.listing and image.listing is not None:
        atomic_write(args.listing, image.listing.encode("utf-8"))
    digest = hashlib.sha256(image.data).hexdigest()
    record = args.kernel.checkpoint("BOOT", "boot_build", {
        "target": emitter.target, "kind": image.kind, "size": len(image.data), "sha256": digest,
        "path": str(output), "source": args.source}, corridor="DISTRICT_5.CHAMBER_BOOT.NODE_BUILD")
    result = {"target": emitter.target, "path": str(output), "size": len(image.data), "sha256": digest,
              "kind": image.kind, "ledger_id": record["id"]}
    if args.json:
        print_json(result)
    else:
        print(f"built {output}: {image.kind}, {len(image.data)} bytes, sha256 {digest[:16]}... ({record['id']})")
    return 0


def configure_boot_run(parser) -> None:
    parser.add_argument("--target", help="boot target (default: the world's)")
    parser.add_argument("image", nargs="?", help="image file (default: the last `boot build` output)")
    parser.add_argument("--headless", action="store_true", help="no window; serial/monitor on stdio")
    add_json_flag(parser, help="run headless (standard input still feeds the monitor), capture the emulator's "
                  "console and print one JSON object when it ends: exit code, seconds, console output")


def run_boot_run(args) -> int:
    emitter = _emitter(args)
    if emitter.run is None:
        raise BootError(f"boot target {emitter.target!r} cannot run images")
    image = Path(args.image) if args.image else args.kernel.home / "boot" / f"{emitter.target}.img"
    if not image.exists():
        raise BootError(f"no image at {image}: run 'pxos-kernel boot build' first")
    record = args.kernel.checkpoint("BOOT", "boot_run", {"target": emitter.target, "path": str(image)},
                                    corridor="DISTRICT_5.CHAMBER_BOOT.NODE_RUN")
    if not args.json:
        return emitter.run(image, {"headless": args.headless})
    import tempfile
    import time

    # The console goes to a file, not a pipe: nobody reads a pipe while the emulator runs, so it could fill.
    with tempfile.TemporaryFile(prefix="pxos-boot-") as console:
        started = time.monotonic()
        code = emitter.run(image, {"headless": True, "output": console})
        seconds = time.monotonic() - started
        console.seek(0)
        output = console.read().decode("utf-8", "replace")
    print_json({"target": emitter.target, "image": str(image), "sha256": hashlib.sha256(image.read_bytes()).hexdigest(),
                "exit_code": code, "seconds": round(seconds, 3), "output": output, "ledger_id": record["id"]})
    return code
