"""Test helper: forging PNG files the way a careful attacker (or a buggy tool) would."""

from __future__ import annotations

from pxos_kernel import container


def fix_crcs(png: bytes) -> bytes:
    """``png`` with every chunk's CRC recomputed, so only deeper checks (sha256) can notice an edit."""
    out, pos = [png[:8]], 8
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        out.append(container._chunk(png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return b"".join(out)
