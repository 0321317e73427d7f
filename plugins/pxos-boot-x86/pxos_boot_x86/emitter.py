"""The ``x86-bios`` boot emitter: BootRequest in, BootImage out."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pxos_kernel import BootImage, BootRequest

from pxos_boot_x86.bootsector import assemble_boot_sector, boot_sector, floppy_image

TARGET = "x86-bios"
SHELL_NAME = "pxos_shell.pxs"


def default_source() -> tuple[str, str]:
    """The pxOS shell's source shipped with the plugin: (a name for messages, its text).

    The canonical copy is ``boot/pxos_shell.pxs`` in the repository; the package
    carries a real copy as package data (a test keeps the two identical), so a
    non-editable install and a pixel archive of the system build the same shell.
    """
    resource = resources.files("pxos_boot_x86") / "data" / SHELL_NAME
    return f"boot/{SHELL_NAME}", resource.read_text(encoding="utf-8")


def emit(request: BootRequest) -> BootImage:
    """Assemble ``request.source`` (default: the pxOS shell) into a boot sector.

    Options: ``floppy`` (bool) pads the sector to a 1.44 MB floppy image.
    """
    if request.source is None:
        name, text = default_source()
        assembly = assemble_boot_sector(name, text=text)
    else:
        assembly = assemble_boot_sector(Path(request.source))
    sector = boot_sector(assembly)
    if request.options.get("floppy"):
        return BootImage(TARGET, floppy_image(sector), kind="floppy-1.44m", listing=assembly.listing())
    return BootImage(TARGET, sector, kind="boot-sector", listing=assembly.listing())
