"""pxos-pixelfs: two pxOS storage backends.

- ``pixelfs://KEY``: each object is a pixel container (a real PNG) under the backend root,
  see :mod:`pxos_pixelfs.pixelfs`.
- ``infinitemap://KEY``: objects laid out as pixels in a sparse, unbounded 2D tile space,
  see :mod:`pxos_pixelfs.tiles` (the map) and :mod:`pxos_pixelfs.infinitemap` (the store).

This module stays light: numpy is imported only by the modules that need it.
"""

__version__ = "0.1.0"
