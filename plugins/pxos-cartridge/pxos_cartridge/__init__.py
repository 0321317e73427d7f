"""pxos-cartridge: .pxa pixel archives, an importer that runs Python from them, and the cartridge registry.

The public API lives in :mod:`pxos_cartridge.archive`, :mod:`pxos_cartridge.importer`,
:mod:`pxos_cartridge.launcher` and :mod:`pxos_cartridge.registry` (see the README).
This module stays empty so that importing the plugin costs nothing.
"""

__version__ = "0.1.0"
