"""Cross-check: NASM (Debian's nasm) and the primitive assembler produce the same bytes."""

from __future__ import annotations

import subprocess

import pytest

from pxos_boot_x86.assembler import SHORT_JUMPS, assemble
from pxos_boot_x86.bootsector import assemble_boot_sector, boot_sector

from conftest import BOOT


def nasm_bytes(nasm: str, source: str, tmp_path) -> bytes:
    (tmp_path / "prog.asm").write_text(source)
    subprocess.run([nasm, "-f", "bin", "-o", str(tmp_path / "prog.bin"), str(tmp_path / "prog.asm")],
                   check=True, capture_output=True, text=True)
    return (tmp_path / "prog.bin").read_bytes()


def test_the_pxos_shell_is_byte_identical_to_its_nasm_twin(nasm, tmp_path):
    ours = boot_sector(assemble_boot_sector(BOOT / "pxos_shell.pxs"))
    theirs = nasm_bytes(nasm, (BOOT / "pxos_shell.asm").read_text(), tmp_path)
    assert len(ours) == len(theirs) == 512
    assert ours == theirs


def jump_program() -> tuple[str, str]:
    """One program in both languages: every jump form, forwards and backwards, plus data."""
    primitive = ["ORG 0x7C00", "LABEL back", 'DB "pxOS", 13, 10, 0', "DW back, ahead, 0xAA55"]
    asm = ["bits 16", "org 0x7C00", "back:", 'db "pxOS", 13, 10, 0', "dw back, ahead, 0xAA55"]
    for direction in ("forward", "backward"):  # every short jump to a label ahead, then behind
        if direction == "backward":
            primitive.append("LABEL middle")
            asm.append("middle:")
        for name in sorted(SHORT_JUMPS):
            primitive.append(f"{name} middle")
            short = "" if name == "JCXZ" or name.startswith("LOOP") else "short "  # those are always short
            asm.append(f"{name.lower()} {short}middle")
    primitive += ["CALL back", "CALL ahead", "JMP NEAR back", "JMP NEAR ahead", "JMP SHORT ahead",
                   "JMP middle", "DB 0xEB", "REL8 ahead", "DB 0xE9", "REL16 back", "WRITE 0x7DF0 0xC3"]
    asm += ["call back", "call ahead", "jmp near back", "jmp near ahead", "jmp short ahead",
            "jmp short middle", "jmp short ahead", "jmp near back"]
    primitive += ["LABEL ahead", "DB 0x90"]
    asm += ["ahead:", "nop", "times 0x1F0 - ($ - $$) db 0", "ret"]
    return "\n".join(primitive) + "\n", "\n".join(asm) + "\n"


def test_every_jump_form_matches_nasm(nasm, tmp_path):
    primitive, asm = jump_program()
    ours = assemble(primitive, filename="jumps.pxs").code
    assert ours == nasm_bytes(nasm, asm, tmp_path)
    assert len(ours) == 0x1F1


@pytest.mark.parametrize("distance", [-128, 127])
def test_short_jump_limits_match_nasm(nasm, tmp_path, distance):
    """At the edges of a short jump's reach both assemblers agree on the displacement."""
    fill = ", ".join(["0x90"] * (-distance - 2 if distance < 0 else distance))
    if distance < 0:
        primitive, asm = f"LABEL t\nDB {fill}\nJE t\n", f"bits 16\nt:\ndb {fill}\nje short t\n"
    else:
        primitive, asm = f"JE t\nDB {fill}\nLABEL t\n", f"bits 16\nje short t\ndb {fill}\nt:\n"
    assert assemble(primitive, filename="edge.pxs").code == nasm_bytes(nasm, asm, tmp_path)
