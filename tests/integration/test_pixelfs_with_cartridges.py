"""pxos-pixelfs next to the other plugins: the real ``pxos-kernel`` command, every installed plugin loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pxos_pixelfs")

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "pxos-cartridge" / "examples" / "greeter"


def _cli(home: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PXOS_HOME": str(home), "PXOS_STRICT_PLUGINS": "1"}
    return subprocess.run([sys.executable, "-m", "pxos_kernel", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_both_backends_registered_among_all_plugins(tmp_path):
    done = _cli(tmp_path / "home", tmp_path, "storage", "backends", "--json")
    assert done.returncode == 0, done.stderr
    owners = {b["scheme"]: b["plugin"] for b in json.loads(done.stdout)}
    assert "pixelfs" in owners and "infinitemap" in owners and owners["pixelfs"] == owners["infinitemap"]


@pytest.mark.parametrize("scheme", ["pixelfs", "infinitemap"])
def test_a_cartridge_archive_stored_and_fetched(tmp_path, scheme):
    pytest.importorskip("pxos_cartridge")
    home = tmp_path / "home"
    packed = _cli(home, tmp_path, "cartridge", "pack", str(EXAMPLE), "-o", "greeter.pxa")
    assert packed.returncode == 0, packed.stderr
    archive = (tmp_path / "greeter.pxa").read_bytes()

    put = _cli(home, tmp_path, "storage", "put", "greeter.pxa", f"{scheme}://cartridges/greeter.pxa", "--json")
    assert put.returncode == 0, put.stderr
    assert json.loads(put.stdout)["size"] == len(archive)
    got = _cli(home, tmp_path, "storage", "get", f"{scheme}://cartridges/greeter.pxa", "-o", "back.pxa")
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "back.pxa").read_bytes() == archive
    assert _cli(home, tmp_path, "storage", "verify", f"{scheme}://cartridges/greeter.pxa").returncode == 0
    run = _cli(home, tmp_path, "run", "greet", "--cartridge", "./back.pxa", "--", "Ada")
    assert run.returncode == 0 and "Hello, Ada" in run.stdout, run.stderr


def test_show_of_a_stored_archive(tmp_path):
    pytest.importorskip("pxos_cartridge")
    home = tmp_path / "home"
    assert _cli(home, tmp_path, "cartridge", "pack", str(EXAMPLE), "-o", "greeter.pxa").returncode == 0
    assert _cli(home, tmp_path, "storage", "put", "greeter.pxa", "pixelfs://greeter").returncode == 0
    shown = _cli(home, tmp_path, "storage", "show", "pixelfs://greeter", "-o", "preview.png", "--width", "256")
    assert shown.returncode == 0, shown.stderr
    from pxos_kernel.container import read_container_meta

    meta = read_container_meta(tmp_path / "preview.png")
    assert meta["kind"] == "preview" and meta["source"] == "pixelfs://greeter" and meta["width"] <= 256
