"""``storage show``: a PNG anyone can look at, drawn from an object's pixels.

Tiny objects are scaled up (each pixel a square block) to about the target
width; big ones are sampled down (every n-th pixel and row). Pixels arrive in
blocks of rows, so a multi-GB object previews in bounded memory. The preview is
itself a pixel container of kind ``preview`` (so it records where it came from).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, Iterator, Union

from pxos_kernel import StorageError, container

if TYPE_CHECKING:
    import numpy as np

MAX_PREVIEW_WIDTH = 8192
MAX_PREVIEW_ROWS = 8192


def write_preview(blocks: Iterable["np.ndarray"], columns: int, rows: int, output: Union[str, os.PathLike], *,
                  width: int = 512, meta: dict) -> dict:
    """Draw an image of ``rows x columns`` pixels, given as blocks of whole rows (``n x columns x 3``
    uint8 arrays, top to bottom), into the PNG ``output`` (written atomically); return its metadata."""
    import numpy as np

    if not isinstance(width, int) or not 1 <= width <= MAX_PREVIEW_WIDTH:
        raise StorageError(f"preview width must be from 1 to {MAX_PREVIEW_WIDTH} pixels, not {width!r}")
    step = -(-columns // width)                           # sample every step-th pixel when too wide
    scale = max(1, width // columns) if step == 1 else 1  # or blow pixels up when too narrow
    row_step = max(step, -(-rows * scale // MAX_PREVIEW_ROWS))
    picked, seen = [], 0
    for block in blocks:
        first = -seen % row_step  # the first row of this block that falls on the sampling grid
        picked.append(block[first::row_step, ::step].copy())
        seen += len(block)
    image = np.concatenate(picked) if picked else np.zeros((1, 1, 3), np.uint8)
    if scale > 1:
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    return container.write_container(output, image.tobytes(), kind="preview", width=image.shape[1],
                                     meta={**meta, "scale": scale, "step": step, "row_step": row_step})


def container_rows(src: Union[str, os.PathLike]) -> tuple[Iterator["np.ndarray"], int, int, dict]:
    """The pixels of the pixel container ``src`` as blocks of rows: (blocks, columns, rows, metadata)."""
    import numpy as np

    meta = container.read_container_meta(src)
    columns, rows = meta["width"], meta["height"]
    row_bytes = columns * container.BYTES_PER_PIXEL

    def blocks() -> Iterator[np.ndarray]:
        pending = bytearray()
        for payload in container.iter_payload(src):
            pending += payload
            whole = len(pending) - len(pending) % row_bytes
            if whole:
                yield np.frombuffer(bytes(pending[:whole]), np.uint8).reshape(-1, columns, 3)
                del pending[:whole]
        if (meta["length"] - len(pending)) // row_bytes < rows:  # the zero-padded last row (or an empty payload's)
            yield np.frombuffer(bytes(pending) + bytes(row_bytes - len(pending)), np.uint8).reshape(1, columns, 3)

    return blocks(), columns, rows, meta
