"""A picture of a model's weights: each tensor a block of pixels, red positive, blue negative.

The picture is itself a pixel container (kind ``weights-picture``), i.e. an
ordinary RGB PNG whose rows are the pixels below, so any image viewer opens it
and its metadata lists where each tensor is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from pxos_kernel.container import write_container

MAX_WIDTH = 1024
GAP_ROWS = 2
VECTOR_ROWS = 4  # a 1-D tensor is drawn as a band this many rows tall


def tensor_rows(values: np.ndarray, width: int) -> np.ndarray:
    """One tensor as an (rows, width, 3) uint8 block, scaled by its own 99th percentile magnitude."""
    matrix = values.reshape(values.shape[0], -1) if values.ndim >= 2 else np.tile(values, (VECTOR_ROWS, 1))
    if matrix.shape[1] > width:  # fold long rows so the picture stays at most `width` wide
        cols = matrix.shape[1]
        per_row = -(-cols // width)
        matrix = np.pad(matrix, ((0, 0), (0, per_row * width - cols))).reshape(-1, width)
    magnitude = float(np.quantile(np.abs(matrix), 0.99)) or 1.0
    v = np.clip(matrix / magnitude, -1.0, 1.0)
    fade_red, fade_blue = np.clip(v, 0, 1), np.clip(-v, 0, 1)
    rgb = np.stack([1 - fade_blue, 1 - fade_red - fade_blue, 1 - fade_red], axis=-1)
    block = np.full((matrix.shape[0], width, 3), 255, dtype=np.uint8)
    block[:, : matrix.shape[1]] = np.rint(255 * np.clip(rgb, 0, 1)).astype(np.uint8)
    return block


def write_weights_picture(dest: Path, tensors: Sequence[tuple[str, np.ndarray]]) -> tuple[int, int]:
    """Draw ``tensors`` (name, array) top to bottom into the PNG ``dest``; return (width, height)."""
    width = min(MAX_WIDTH, max(t.reshape(t.shape[0], -1).shape[1] if t.ndim >= 2 else t.shape[0]
                               for _, t in tensors))
    blocks, layout, row = [], [], 0
    for name, values in tensors:
        block = tensor_rows(np.asarray(values, dtype=np.float32), width)
        layout.append({"name": name, "row": row, "rows": int(block.shape[0])})
        blocks += [block, np.full((GAP_ROWS, width, 3), 255, dtype=np.uint8)]
        row += block.shape[0] + GAP_ROWS
    image = np.concatenate(blocks[:-1])  # no gap after the last tensor
    write_container(dest, image.tobytes(), kind="weights-picture", width=width,
                    meta={"tensors": layout, "legend": "red positive, blue negative, white zero; each "
                          "tensor scaled by its 99th percentile magnitude"})
    return width, int(image.shape[0])
