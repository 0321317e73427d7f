"""``storage show``: a PNG anyone can look at, drawn from a container's pixels.

Tiny payloads are scaled up (each pixel a square block) to about the target
width; big ones are sampled down (every n-th pixel and row). The payload is
streamed, so a multi-GB object previews in bounded memory. The preview is
itself a pixel container of kind ``preview`` (so it records where it came from).
"""

from __future__ import annotations

import os
from typing import Union

from pxos_kernel import container
from pxos_kernel.errors import StorageError

MAX_PREVIEW_WIDTH = 8192
MAX_PREVIEW_ROWS = 8192


def write_preview(src: Union[str, os.PathLike], output: Union[str, os.PathLike], *, width: int = 512,
                  source: str = "") -> dict:
    """Draw the container at ``src`` into the PNG ``output`` (written atomically); return its metadata."""
    import numpy as np

    if not isinstance(width, int) or not 1 <= width <= MAX_PREVIEW_WIDTH:
        raise StorageError(f"preview width must be from 1 to {MAX_PREVIEW_WIDTH} pixels, not {width!r}")
    meta = container.read_container_meta(src)
    columns, rows = meta["width"], meta["height"]
    step = -(-columns // width)                      # sample every step-th pixel when too wide
    scale = max(1, width // columns) if step == 1 else 1  # or blow pixels up when too narrow
    row_step = max(step, -(-rows * scale // MAX_PREVIEW_ROWS))
    row_bytes = columns * container.BYTES_PER_PIXEL

    picked = []

    def take(row: bytes, index: int) -> None:
        if index % row_step == 0:
            pixels = np.frombuffer(row, dtype=np.uint8).reshape(columns, 3)[::step].copy()  # let go of `row`
            picked.append(np.repeat(pixels, scale, axis=0) if scale > 1 else pixels)

    pending, index = bytearray(), 0
    for block in container.iter_payload(src):
        pending += block
        whole = len(pending) - len(pending) % row_bytes
        view = memoryview(pending)
        for start in range(0, whole, row_bytes):
            take(view[start:start + row_bytes], index)
            index += 1
        view.release()
        del pending[:whole]
    while index < rows:  # the zero padding of the last row, or the one black row of an empty payload
        take(bytes(pending) + bytes(row_bytes - len(pending)), index)
        pending = bytearray()
        index += 1
    image = np.repeat(np.stack(picked), scale, axis=0) if scale > 1 else np.stack(picked)
    return container.write_container(output, image.tobytes(), kind="preview", width=image.shape[1],
                                     meta={"source": source, "source_sha256": meta["sha256"], "scale": scale,
                                           "step": step, "row_step": row_step})
