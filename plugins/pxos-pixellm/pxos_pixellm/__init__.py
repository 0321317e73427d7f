"""pxos-pixellm: a byte-level Llama-style transformer in numpy whose weights live in PNG model containers.

Public API: :func:`pxos_pixellm.container.load_model` / ``save_model``,
:class:`pxos_pixellm.model.Transformer`, :func:`pxos_pixellm.generate.generate`,
:class:`pxos_pixellm.engine.PixelEngine`, :func:`pxos_pixellm.convert.convert`.
Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"
