"""Shared fixtures: the repository's boot sources, and the system tools the tests install."""

from __future__ import annotations

from pathlib import Path

import pytest

from pxos_kernel.testing import require_system_package

REPO = Path(__file__).resolve().parents[3]
BOOT = REPO / "boot"


@pytest.fixture(scope="session")
def nasm() -> str:
    """Debian's nasm (installed if missing)."""
    return require_system_package("nasm", "nasm")


@pytest.fixture(scope="session")
def qemu() -> str:
    """Debian's qemu-system-i386 (package qemu-system-x86, installed if missing)."""
    return require_system_package("qemu-system-i386", "qemu-system-x86")


@pytest.fixture(scope="session")
def shell_image(tmp_path_factory) -> Path:
    """The pxOS shell boot sector, built from boot/pxos_shell.pxs."""
    from pxos_boot_x86.bootsector import assemble_boot_sector, boot_sector

    path = tmp_path_factory.mktemp("shell") / "pxos.img"
    path.write_bytes(boot_sector(assemble_boot_sector(BOOT / "pxos_shell.pxs")))
    return path
