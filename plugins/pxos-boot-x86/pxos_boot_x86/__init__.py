"""pxOS boot emitter ``x86-bios``: the primitive assembler, the pxOS shell boot sector, QEMU.

Public API: :func:`pxos_boot_x86.assembler.assemble`, :func:`~pxos_boot_x86.assembler.assemble_file`,
:mod:`pxos_boot_x86.bootsector` (``boot_sector``, ``floppy_image``), :func:`pxos_boot_x86.emitter.emit`
and :class:`pxos_boot_x86.qemu.QemuMachine`.
"""

__version__ = "0.1.0"
