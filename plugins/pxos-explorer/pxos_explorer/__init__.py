"""pxos-explorer: ``pxos-kernel explore``, a local web explorer of a pxOS system.

The server (:mod:`pxos_explorer.server`) is the standard library's threaded
HTTP server on 127.0.0.1 behind a random token; each view is a JSON API
(:mod:`pxos_explorer.views`) that the page in ``static/`` renders, so scripts
can use the same endpoints. Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"
