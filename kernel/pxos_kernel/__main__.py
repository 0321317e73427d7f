"""``python -m pxos_kernel`` is ``pxos-kernel``."""

from pxos_kernel.cli import entry

entry()
