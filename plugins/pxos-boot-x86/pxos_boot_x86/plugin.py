"""Entry point of the pxos-boot-x86 plugin: registers the ``x86-bios`` boot emitter.

Loaded on every ``pxos-kernel`` start, so it imports only the kernel and the
standard library; the assembler and the QEMU driver load when first used.
"""

from __future__ import annotations

from typing import Any, Mapping

from pxos_kernel import BootEmitter, hookimpl


def emit(request: Any) -> Any:
    """Build the boot image a :class:`~pxos_kernel.interfaces.BootRequest` asks for."""
    from pxos_boot_x86.emitter import emit as emit_image
    return emit_image(request)


def run(path: Any, options: Mapping[str, Any]) -> int:
    """Boot an image in ``qemu-system-i386``; returns QEMU's exit code."""
    from pxos_boot_x86.qemu import run as run_in_qemu
    return run_in_qemu(path, options)


@hookimpl
def pxos_boot_emitters() -> BootEmitter:
    return BootEmitter("x86-bios", emit, "pxOS shell as a 512-byte BIOS boot sector (primitive assembler); "
                       "runs in qemu-system-i386", run=run)
