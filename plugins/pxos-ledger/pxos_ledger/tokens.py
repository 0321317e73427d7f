"""Token pixels (seed 000): a state as a token stream and as a pixel grid.

The token stream walks the JSON value itself, not its text, so every token has
exactly one type: ``identifier`` (an object key), ``operator`` (``:`` ``,``),
``structure`` (``{ } [ ]``), ``number``, ``string`` or ``literal``
(``true false null``). The stream is capped at :data:`MAX_TOKENS`; a capped
stream ends with one ``marker`` line saying how many tokens were left out.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

from pxos_kernel import canonical_json, format_number

MAX_TOKENS = 4096
GRID_WIDTH, CELL = 800, 100


def _walk(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        yield "{", "structure"
        for i, (key, item) in enumerate(value.items()):
            if i:
                yield ",", "operator"
            yield str(key), "identifier"
            yield ":", "operator"
            yield from _walk(item)
        yield "}", "structure"
    elif isinstance(value, (list, tuple)):
        yield "[", "structure"
        for i, item in enumerate(value):
            if i:
                yield ",", "operator"
            yield from _walk(item)
        yield "]", "structure"
    elif value is None or isinstance(value, bool):
        yield canonical_json(value), "literal"
    elif isinstance(value, int):
        yield str(value), "number"
    elif isinstance(value, float):
        yield format_number(value), "number"
    else:
        yield str(value), "string"


def token_stream(state: Any, limit: int = MAX_TOKENS) -> list[dict]:
    """``[{"pos", "token", "type"}, ...]``, at most ``limit`` tokens plus a marker when cut."""
    tokens: list[dict] = []
    total = 0
    for token, kind in _walk(state):
        if total < limit:
            tokens.append({"pos": total, "token": token, "type": kind})
        total += 1
    if total > limit:
        tokens.append({"pos": limit, "token": "<truncated>", "type": "marker", "truncated": True,
                       "total_tokens": total, "omitted_tokens": total - limit})
    return tokens


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"object({len(value)})"
    if isinstance(value, list):
        return f"array({len(value)})"
    text = canonical_json(value)
    return text if len(text) <= 64 else text[:61] + "..."


def pixel_grid(state: Any) -> dict:
    """The seed-000 ``state_space_grid``: one 100x100 region per top-level key, 8 to a row."""
    items = list(state.items()) if isinstance(state, dict) else [("value", state)]
    columns = GRID_WIDTH // CELL
    regions = {}
    for index, (key, value) in enumerate(items):
        regions[str(key)] = {"x": (index % columns) * CELL, "y": (index // columns) * CELL, "w": CELL, "h": CELL,
                             "state": _describe(value),
                             "sha256": hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()}
    rows = max(1, -(-len(items) // columns))
    return {"state_space_grid": {"dimensions": {"width": GRID_WIDTH, "height": rows * CELL},
                                 "pixel_states": regions}}


def grid_png(grid: dict, path) -> None:
    """Draw a pixel grid: each region filled with a colour from its content hash, labelled."""
    from PIL import Image, ImageDraw

    from pxos_kernel import atomic_writer

    dims = grid["state_space_grid"]["dimensions"]
    image = Image.new("RGB", (dims["width"], dims["height"]), (24, 24, 28))
    draw = ImageDraw.Draw(image)
    for name, region in grid["state_space_grid"]["pixel_states"].items():
        digest = bytes.fromhex(region["sha256"])
        colour = tuple(64 + b // 2 for b in digest[:3])
        box = (region["x"] + 2, region["y"] + 2, region["x"] + region["w"] - 3, region["y"] + region["h"] - 3)
        draw.rectangle(box, fill=colour, outline=(240, 240, 240))
        draw.text((box[0] + 4, box[1] + 4), name[:14], fill=(0, 0, 0))
        draw.text((box[0] + 4, box[1] + 20), region["state"][:14], fill=(0, 0, 0))
    with atomic_writer(path) as out:
        image.save(out, format="PNG")
