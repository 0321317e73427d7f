"""require_system_package: a command on PATH, or a file a package installs."""

from __future__ import annotations

import sys

from pxos_kernel.testing import require_system_package


def test_a_present_file_path_is_returned_without_apt():
    assert require_system_package(sys.executable, "no-such-package-needed") == sys.executable


def test_a_present_command_is_found_on_path():
    assert require_system_package("sh", "dash").endswith("/sh")
