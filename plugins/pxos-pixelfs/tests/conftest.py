"""Fixtures shared by the pxos-pixelfs tests."""

from __future__ import annotations

import pytest

from pxos_pixelfs.pixelfs import PixelFS


@pytest.fixture
def pixelfs(tmp_path):
    return PixelFS(tmp_path / "pixelfs")


@pytest.fixture
def pngcheck():
    """The path of Debian's independent PNG checker, installed when missing."""
    from pxos_kernel.testing import require_system_package

    return require_system_package("pngcheck", "pngcheck")
