"""Boot sectors and floppy images: where assembled code goes so a PC BIOS boots it."""

from __future__ import annotations

from pathlib import Path
from typing import Union

from pxos_boot_x86.assembler import Assembly, assemble, assemble_file

SECTOR_SIZE = 512
CODE_CAPACITY = 510            # bytes 510-511 hold the signature
SIGNATURE = b"\x55\xAA"        # the BIOS boots a sector only if it ends with these
LOAD_ADDRESS = 0x7C00          # where the BIOS loads the sector
FLOPPY_SIZE = 1_474_560        # 80 cylinders x 2 heads x 18 sectors x 512 bytes
_REGION = "the boot sector's 510 code bytes (bytes 510-511 hold the 0x55 0xAA signature)"


def assemble_boot_sector(source: Union[str, Path], *, text: str | None = None) -> Assembly:
    """Assemble a primitive source file (or ``text``, named ``source``) to fit in one boot sector."""
    if text is not None:
        return assemble(text, filename=str(source), capacity=CODE_CAPACITY, region=_REGION)
    return assemble_file(source, capacity=CODE_CAPACITY, region=_REGION)


def boot_sector(assembly: Assembly) -> bytes:
    """The 512-byte sector: the code, zeros, then 0x55 0xAA at offsets 510-511."""
    if len(assembly.code) > CODE_CAPACITY:  # the assembler already refuses this; guard the invariant
        raise ValueError(f"{len(assembly.code)} bytes of code do not fit in a boot sector")
    return assembly.code.ljust(CODE_CAPACITY, b"\0") + SIGNATURE


def floppy_image(sector: bytes) -> bytes:
    """A 1.44 MB floppy image whose first sector is ``sector`` and the rest zeros."""
    return sector.ljust(FLOPPY_SIZE, b"\0")
