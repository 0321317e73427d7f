"""Boot sectors and floppies: the signature, the size limit, and the emitter's default source."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pxos_boot_x86.bootsector import FLOPPY_SIZE, assemble_boot_sector, boot_sector, floppy_image
from pxos_boot_x86.emitter import default_source, emit
from pxos_boot_x86.errors import AssemblyError
from pxos_kernel import BootRequest

from conftest import BOOT, REPO


def test_a_boot_sector_is_512_bytes_ending_in_the_signature(tmp_path):
    source = tmp_path / "tiny.pxs"
    source.write_text("ORG 0x7C00\nLABEL hang\nJMP hang\n")
    sector = boot_sector(assemble_boot_sector(source))
    assert len(sector) == 512
    assert sector[:2] == b"\xEB\xFE"
    assert sector[2:510] == bytes(508)
    assert sector[510:] == b"\x55\xAA"


def test_code_that_does_not_fit_is_refused(tmp_path):
    source = tmp_path / "big.pxs"
    source.write_text("ORG 0x7C00\n" + "DB " + ", ".join(["0x90"] * 500) + "\nDB " + ", ".join(["0x90"] * 11))
    with pytest.raises(AssemblyError, match=r"big\.pxs:3: code does not fit: 0x7DFE is past the boot sector's "
                                            r"510 code bytes .*signature.* \(0x7C00-0x7DFD\)"):
        assemble_boot_sector(source)


def test_writing_over_the_signature_is_refused(tmp_path):
    source = tmp_path / "sig.pxs"
    source.write_text("ORG 0x7C00\nWRITE 0x7DFE 0x55\n")
    with pytest.raises(AssemblyError, match=r"sig\.pxs:2: write outside the image: 0x7DFE"):
        assemble_boot_sector(source)


def test_510_bytes_fit_exactly(tmp_path):
    source = tmp_path / "full.pxs"
    source.write_text("ORG 0x7C00\nDB " + ", ".join(["0x90"] * 510))
    assert boot_sector(assemble_boot_sector(source)) == b"\x90" * 510 + b"\x55\xAA"


def test_the_seed_layout_without_org_is_refused(tmp_path):
    """The seed wrote at 0x7C00 into a file from offset 0: its sector came out empty."""
    source = tmp_path / "seed.pxs"
    source.write_text("DEFINE boot_start 0x7C00\nWRITE 0x7C00 0xFA\n")
    with pytest.raises(AssemblyError, match=r"seed\.pxs:2: write outside the image: 0x7C00 .*no ORG: add one at the top, ORG 0x7C00"):
        assemble_boot_sector(source)


def test_floppy_image_is_1_44_mb_with_the_sector_first(shell_image):
    sector = shell_image.read_bytes()
    floppy = floppy_image(sector)
    assert len(floppy) == FLOPPY_SIZE == 1_474_560
    assert floppy[:512] == sector and floppy[512:] == bytes(FLOPPY_SIZE - 512)


def test_emit_builds_the_shell_by_default_and_on_request():
    image = emit(BootRequest())
    assert image.target == "x86-bios" and image.kind == "boot-sector"
    assert image.data == boot_sector(assemble_boot_sector(BOOT / "pxos_shell.pxs"))
    assert "pxOS v1> " in image.data.decode("latin-1")
    assert image.listing.startswith("; boot/pxos_shell.pxs:")
    floppy = emit(BootRequest(None, {"floppy": True}))
    assert floppy.kind == "floppy-1.44m" and len(floppy.data) == FLOPPY_SIZE
    assert floppy.data[:512] == image.data
    other = emit(BootRequest(str(BOOT / "pxos_shell.pxs")))
    assert other.data == image.data


@pytest.mark.source_tree
def test_the_packaged_shell_is_the_canonical_boot_source():
    """The package carries a real copy of boot/pxos_shell.pxs (a symlink cannot go into a pixel archive)."""
    packaged = Path(__file__).resolve().parents[1] / "pxos_boot_x86" / "data" / "pxos_shell.pxs"
    assert not packaged.is_symlink()
    assert packaged.read_bytes() == (BOOT / "pxos_shell.pxs").read_bytes(), \
        "boot/pxos_shell.pxs changed: copy it to plugins/pxos-boot-x86/pxos_boot_x86/data/pxos_shell.pxs"
    assert default_source()[1] == (BOOT / "pxos_shell.pxs").read_text()


@pytest.mark.source_tree
def test_a_wheel_carries_the_shell_source(tmp_path):
    """A non-editable install gets the shell from the wheel."""
    plugin = REPO / "plugins" / "pxos-boot-x86"
    had_build_dir = (plugin / "build").exists()
    try:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(plugin)], check=True, capture_output=True)
    finally:
        if not had_build_dir:  # setuptools builds in the source tree: leave it as we found it
            shutil.rmtree(plugin / "build", ignore_errors=True)
    wheel = next(tmp_path.glob("pxos_boot_x86-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        packaged = archive.read("pxos_boot_x86/data/pxos_shell.pxs")
        entry_points = archive.read(next(n for n in archive.namelist() if n.endswith("entry_points.txt")))
    assert hashlib.sha256(packaged).digest() == hashlib.sha256((BOOT / "pxos_shell.pxs").read_bytes()).digest()
    assert b"boot_x86 = pxos_boot_x86.plugin" in entry_points
