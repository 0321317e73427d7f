"""The ledger as a picture: one square cell per record, row after row.

A cell's hue comes from the record's type and its lightness from the corridor's
district (the legend shows each type at district 0), so runs of one kind show as bands. A record whose own hash or link
to the previous record does not check is filled red with a white cross. A
legend under the cells names each type's colour.
"""

from __future__ import annotations

import colorsys
from typing import Iterable, Optional

from pxos_kernel import CORRIDOR, GENESIS_PREV, check_record

CELL, GAP, COLUMNS = 12, 2, 48
BROKEN = (220, 20, 20)


#: Distinct hues, none of them red (red marks damage).
PALETTE_HUES = (0.58, 0.33, 0.12, 0.78, 0.50, 0.20, 0.67, 0.90, 0.42, 0.05)


def type_colour(hue: float, corridor: str = "") -> tuple[int, int, int]:
    """The colour of a type's ``hue`` at a corridor: lighter for higher districts."""
    match = CORRIDOR.match(corridor or "")
    district = int(match.group(1)) if match else 0
    lightness = 0.35 + 0.06 * (district % 6)
    r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.70)
    return int(r * 255), int(g * 255), int(b * 255)


def judge(records: Iterable[dict], key: Optional[bytes], *, prev_hash: str = GENESIS_PREV,
          expected: int = 1) -> list[tuple[dict, str]]:
    """Each record with what is wrong with it locally (its hash, and its link to the record before).

    ``prev_hash`` and ``expected`` describe the record before the first one given (the
    hash it must link to and the sequence number due next), so a long ledger can be
    judged a piece at a time: pass the last piece's last hash and sequence number + 1.
    """
    judged = []
    for record in records:
        problem = check_record(record, expected, prev_hash, key)
        judged.append((record, problem))
        prev_hash = str(record.get("hash")) if isinstance(record, dict) else prev_hash
        seq = record.get("seq") if isinstance(record, dict) else None
        expected = (seq if isinstance(seq, int) else expected) + 1
    return judged


def render(judged: list[tuple[dict, str]], path) -> dict:
    """Write the picture to ``path`` (PNG); return what was drawn."""
    from PIL import Image, ImageDraw

    from pxos_kernel import atomic_writer

    count = len(judged)
    columns = max(1, min(COLUMNS, count))
    rows = max(1, -(-count // columns))
    types = sorted({str(r.get("type")) for r, _ in judged}) if judged else []
    hues = {t: PALETTE_HUES[i % len(PALETTE_HUES)] for i, t in enumerate(types)}  # distinct for up to 10 types
    legend_rows = len(types) + 1
    width = max(columns * (CELL + GAP) + GAP, 320)
    height = rows * (CELL + GAP) + GAP + 8 + legend_rows * 14
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    broken = 0
    for index, (record, problem) in enumerate(judged):
        x = GAP + (index % columns) * (CELL + GAP)
        y = GAP + (index // columns) * (CELL + GAP)
        box = (x, y, x + CELL - 1, y + CELL - 1)
        if problem:
            broken += 1
            draw.rectangle(box, fill=BROKEN)
            draw.line(box, fill=(255, 255, 255))
            draw.line((box[0], box[3], box[2], box[1]), fill=(255, 255, 255))
        else:
            draw.rectangle(box, fill=type_colour(hues[str(record.get("type"))], str(record.get("corridor"))))
    y = rows * (CELL + GAP) + GAP + 6
    for record_type in types:
        draw.rectangle((GAP, y, GAP + 10, y + 10), fill=type_colour(hues[record_type]))
        draw.text((GAP + 16, y - 1), record_type, fill=(0, 0, 0))
        y += 14
    draw.rectangle((GAP, y, GAP + 10, y + 10), fill=BROKEN)
    draw.text((GAP + 16, y - 1), f"broken hash or link ({broken})", fill=(0, 0, 0))
    with atomic_writer(path) as out:
        image.save(out, format="PNG")
    return {"records": count, "broken": broken, "width": width, "height": height, "types": types,
            "first_broken": next((r.get("id") for r, p in judged if p), None)}
