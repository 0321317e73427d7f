"""The primitive language: what each command emits, and that every error names file and line."""

from __future__ import annotations

import pytest

from pxos_boot_x86.assembler import assemble, assemble_file
from pxos_boot_x86.errors import AssemblyError
from pxos_kernel import BootError


def code(text: str, **kwargs) -> bytes:
    return assemble(text, filename="t.pxs", **kwargs).code


def error(text: str, **kwargs) -> AssemblyError:
    with pytest.raises(AssemblyError) as caught:
        assemble(text, filename="prog.pxs", **kwargs)
    assert isinstance(caught.value, BootError)
    return caught.value


def test_the_seed_commands_write_bytes_at_addresses():
    text = """
    COMMENT a comment line
    # another
    ORG 0x7C00
    DEFINE boot_start 0x7C00      COMMENT labels name addresses
    WRITE 0x7C00 0xFA             COMMENT cli
    write 31745 251               # decimal works, and commands are case-insensitive
    WRITE boot_start+2 0xF4
    """
    assembly = assemble(text, filename="t.pxs")
    assert assembly.origin == 0x7C00
    assert assembly.code == b"\xFA\xFB\xF4"
    assert assembly.labels == {"boot_start": 0x7C00}


def test_db_and_dw_place_bytes_one_after_another():
    assert code('ORG 0x100\nDB "Hi\\r\\n", 0, \'A\', \'A\'+1, -1\nDW 0x1234, $') == \
        b"Hi\r\n\x00AB\xff\x34\x12\x08\x01"  # $ is the address of the line (as in NASM)


def test_labels_can_be_used_before_they_are_defined():
    assembly = assemble("ORG 0x7C00\nDB 0xBE\nDW message\nLABEL message\nDB \"x\", 0", filename="t.pxs")
    assert assembly.code == b"\xBE\x03\x7C" + b"x\x00"
    assert assembly.labels["message"] == 0x7C03


def test_jumps_and_calls_compute_their_displacements_from_the_instruction_end():
    text = """ORG 0x7C00
    LABEL top
    JMP top
    JE done
    JNZ top
    CALL done
    JMP NEAR top
    JMP SHORT done
    LOOP top
    DB 0x74
    REL8 done
    LABEL done
    """
    assert code(text) == bytes([
        0xEB, 0xFE,              # jmp top: -2 (the seed's "EB F5"-style hand arithmetic, done for you)
        0x74, 0x0E,              # je done: done = 0x12, end = 0x04
        0x75, 0xFA,              # jnz top: 0 - 6
        0xE8, 0x09, 0x00,        # call done: 0x12 - 0x09
        0xE9, 0xF4, 0xFF,        # jmp near top: 0 - 0x0C
        0xEB, 0x04,              # jmp short done: 0x12 - 0x0E
        0xE2, 0xF0,              # loop top: 0 - 0x10
        0x74, 0x00,              # a hand-built je with REL8: done is right after it
    ])


def test_define_may_use_other_labels_and_arithmetic():
    assembly = assemble("ORG 0x7C00\nDEFINE end start+4-1\nLABEL start\nDW end", filename="t.pxs")
    assert assembly.code == b"\x03\x7C"


def test_listing_shows_address_bytes_line_and_source():
    assembly = assemble("ORG 0x7C00\nLABEL s\nDB 0xFA   # cli\nDB \"0123456789\"\nJMP s\n", filename="t.pxs")
    listing = assembly.listing().splitlines()
    assert "7C00  FA                          3  DB 0xFA   # cli" in listing
    assert "7C01  30 31 32 33 34 35 36 37     4  DB \"0123456789\"" in listing
    assert "7C09  38 39" in listing                   # long data continues on the next row
    assert "7C0B  EB F3                       5  JMP s" in listing
    assert "  7C00  s" in listing                     # the label table


@pytest.mark.parametrize("text, line, problem", [
    ("ORG 0x7C00\nWRTIE 0x7C00 0xFA", 2, "unknown command 'WRTIE'"),
    ("ORG 0x7C00\n\nDB 0x100", 3, "value out of range: 0x100 does not fit in a byte"),
    ("ORG 0x7C00\nWRITE 0x7C00 0x1FF", 2, "value out of range: 0x1ff does not fit in a byte"),
    ("ORG 0x7C00\nDW 0x10000", 2, "value out of range: 0x10000 does not fit in a word"),
    ("ORG 0x10000", 1, "value out of range: ORG 0x10000"),
    ("ORG 0x7C00\nWRITE 0x7BFF 0x90", 2, "write outside the image: 0x7BFF is below ORG 0x7C00"),
    ("WRITE 0x7C00 0xFA", 1, "write outside the image: 0x7C00 is past the 16-byte image"),
    ("ORG 0x7C00\nWRITE 0x7C10 0x90", 2, "write outside the image: 0x7C10 is past the 16-byte image"),
    ("ORG 0x7C00\nDB 1,2,3,4,5,6,7,8\nDB 9,10,11,12,13,14,15,16,17", 3, "code does not fit: 0x7C10 is past"),
    ("ORG 0x7C00\nWRITE 0x7C01 0x90\nDB 0xFA, 0xFB", 3,
     "two writes to byte 0x7C01: it was already written at line 2 (WRITE 0x7C01 0x90)"),
    ("ORG 0x7C00\nJMP nowhere", 2, "undefined label 'nowhere'"),
    ("ORG 0x7C00\nDEFINE a b\nDW a", 2, "undefined label 'b'"),
    ("ORG 0x7C00\nDEFINE a a+1\nDW a", 2, "label 'a' is defined in terms of itself"),
    ("ORG 0x7C00\nLABEL a\nLABEL a", 3, "label 'a' is already defined at line 2"),
    ("ORG 0x7C00\nDB 0\nORG 0x7E00", 3, "ORG must come once, before any code or label"),
    ("ORG 0x7C00\nWRITE 0x7C00", 2, "WRITE takes 2 operands, got 1"),
    ('ORG 0x7C00\nDB "open', 2, "unterminated quote"),
    ("ORG 0x7C00\nDB 0x7C+*", 2, "cannot read the value"),
    ("ORG 0x7C00\nDW \"ab\"", 2, "strings only go in DB"),
    ("ORG 0x7C00\nDEFINE here $", 2, "$ (the current address) has no meaning in DEFINE"),
])
def test_every_error_names_the_file_and_line(text, line, problem):
    raised = error(text, capacity=16)
    assert str(raised).startswith(f"prog.pxs:{line}: ")
    assert problem in str(raised)
    assert raised.line == line and raised.filename == "prog.pxs"
    assert "\n" not in str(raised)


def test_a_short_jump_too_far_says_what_to_do_instead():
    far = "ORG 0\nLABEL top\nDB " + ", ".join(["0x90"] * 126) + "\nJMP top\nJE top"
    assert code(far.rsplit("\n", 1)[0])[-2:] == b"\xEB\x80"      # exactly -128 still fits
    problem = str(error(far.replace("JMP top\nJE top", "DB 0x90\nJMP top")))
    assert "prog.pxs:5:" in problem and "-129 bytes away" in problem and "use JMP NEAR" in problem
    assert "jump over a JMP NEAR" in str(error(far.replace("JMP top\nJE top", "DB 0x90, 0x90\nJE top")))


def test_code_cannot_run_past_the_64k_segment():
    raised = error("ORG 0xFFFE\nDB 1, 2\nDB 3")
    assert str(raised) == "prog.pxs:3: value out of range: address 0x10000 is past 0xFFFF, the end of a real-mode segment"


def test_missing_source_file_is_a_clear_error(tmp_path):
    with pytest.raises(AssemblyError, match=r"nothing\.pxs: no such source file"):
        assemble_file(tmp_path / "nothing.pxs")


def test_the_seed_overlap_bug_is_caught(tmp_path):
    """The seed's welcome string at 0x7C40 overlapped its shell loop at 0x7C38-0x7C45."""
    seed_like = ["ORG 0x7C00", "DEFINE welcome_msg 0x7C40"]
    seed_like += [f"WRITE 0x{0x7C40 + i:04X} 0x{b:02X}" for i, b in enumerate(b"pxOS v1> \0")]
    seed_like += ["DEFINE shell_loop 0x7C38"] + [f"WRITE 0x{0x7C38 + i:04X} 0x90" for i in range(14)]
    source = tmp_path / "seed.pxs"
    source.write_text("\n".join(seed_like))
    with pytest.raises(AssemblyError, match=r"seed\.pxs:22: two writes to byte 0x7C40: .* line 3"):
        assemble_file(source)
