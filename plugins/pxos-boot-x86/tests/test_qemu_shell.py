"""The pxOS shell, booted in QEMU: keys typed through the monitor, the VGA text buffer read back."""

from __future__ import annotations

import pytest

from pxos_boot_x86.bootsector import floppy_image
from pxos_boot_x86.qemu import QemuMachine, keys_for
from pxos_kernel import BootError

PROMPT = "pxOS v1>"  # rows are read with trailing blanks removed; on screen it is "pxOS v1> "


@pytest.fixture
def shell(qemu, shell_image):
    """A freshly booted shell, waiting at its first prompt."""
    with QemuMachine(shell_image) as machine:
        machine.wait_for_text(PROMPT)
        yield machine


def text(rows: list[str]) -> list[str]:
    """The non-blank rows."""
    return [row for row in rows if row]


def test_boot_clears_the_screen_and_shows_the_prompt(shell):
    rows = shell.screen()
    assert rows[0] == PROMPT and not any(rows[1:])       # the BIOS banner was cleared
    cells = shell.screen_bytes()
    assert cells[0:18:2] == b"pxOS v1> " and cells[1] == 0x07  # light grey on black


def test_keys_are_echoed(shell):
    shell.type("Hello, pxOS 1-2=3?")
    assert shell.wait_for_text("pxOS v1> Hello, pxOS 1-2=3?")[0] == "pxOS v1> Hello, pxOS 1-2=3?"


def test_backspace_erases(shell):
    shell.type("echo abx\b\bc")
    assert shell.wait_for_text("echo ac")[0] == "pxOS v1> echo ac"
    shell.type("\n")
    rows = shell.wait_for(lambda rows: rows[2] == PROMPT, what="a new prompt")
    assert text(rows) == ["pxOS v1> echo ac", "ac", PROMPT]  # the erased letters are gone from the line too


def test_backspace_at_the_prompt_leaves_the_prompt_alone(shell):
    shell.type("\b\bx")
    assert shell.wait_for(lambda rows: rows[0] != PROMPT, what="the x")[0] == "pxOS v1> x"


def test_enter_gives_a_new_line_and_prompt(shell):
    shell.type("\n\n")
    rows = shell.wait_for(lambda rows: rows[2] == PROMPT, what="three prompts")
    assert text(rows) == [PROMPT, PROMPT, PROMPT]


def test_help_lists_the_commands(shell):
    shell.type("help\n")
    rows = shell.wait_for(lambda rows: rows[2] == PROMPT, what="help's output")
    assert text(rows) == ["pxOS v1> help", "commands: help, cls, echo TEXT", PROMPT]


def test_echo_prints_its_text(shell):
    shell.type("echo Hello from pxOS!\necho\n")
    rows = shell.wait_for(lambda rows: rows[4] == PROMPT, what="echo's output")
    assert text(rows) == ["pxOS v1> echo Hello from pxOS!", "Hello from pxOS!", "pxOS v1> echo", PROMPT]
    assert rows[3] == ""                                   # a bare echo prints an empty line


def test_cls_clears_the_screen(shell):
    shell.type("help\necho one\n")
    shell.wait_for(lambda rows: rows[4] == PROMPT, what="two commands")
    shell.type("cls\n")
    rows = shell.wait_for(lambda rows: rows[0] == PROMPT and not any(rows[1:]), what="a cleared screen")
    assert rows[0] == PROMPT


def test_unknown_commands_are_named(shell):
    shell.type("helpme\nechoes x\n")
    rows = shell.wait_for(lambda rows: rows[4] == PROMPT, what="two answers")
    assert text(rows) == ["pxOS v1> helpme", "unknown command: helpme",
                          "pxOS v1> echoes x", "unknown command: echoes x", PROMPT]


def test_a_full_screen_scrolls(shell):
    shell.type("echo x\n" * 14)
    rows = shell.wait_for(lambda rows: rows[24] == PROMPT and rows[23] == "x", what="a scrolled screen")
    assert rows[0] in ("x", "pxOS v1> echo x")


def test_the_floppy_image_boots_too(qemu, shell_image, tmp_path):
    floppy = tmp_path / "pxos-floppy.img"
    floppy.write_bytes(floppy_image(shell_image.read_bytes()))
    with QemuMachine(floppy) as machine:
        machine.wait_for_text(PROMPT)
        machine.type("echo floppy\n")
        rows = machine.wait_for(lambda rows: rows[2] == PROMPT, what="echo's output")
        assert text(rows) == ["pxOS v1> echo floppy", "floppy", PROMPT]


def test_a_sector_without_a_shell_never_shows_a_prompt(qemu, tmp_path):
    """The screen polling really looks: a sector that only halts never passes wait_for_text."""
    idle = tmp_path / "idle.img"
    idle.write_bytes(b"\xFA\xF4".ljust(510, b"\0") + b"\x55\xAA")
    with QemuMachine(idle) as machine:
        with pytest.raises(BootError, match="timed out waiting for 'pxOS v1>'"):
            machine.wait_for_text(PROMPT, timeout=1.5)


def test_keys_for_maps_characters_to_qemu_key_codes():
    assert keys_for("a") == ["a"] and keys_for("A") == ["shift", "a"]
    assert keys_for("!") == ["shift", "1"] and keys_for(" ") == ["spc"]
    assert keys_for("\n") == ["ret"] and keys_for("\b") == ["backspace"] and keys_for("?") == ["shift", "slash"]
    with pytest.raises(BootError, match="cannot type 'é'"):
        keys_for("é")
