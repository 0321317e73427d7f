"""Plugins keep to the public API: import-linter over their packages, ast over their tests and the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

import boundary

DISTS = boundary.plugin_dists()


def test_plugin_packages_import_only_public_modules(tmp_path):
    config = tmp_path / "importlinter.ini"
    config.write_text(boundary.importlinter_config(DISTS), encoding="utf-8")
    result = boundary.run_importlinter(config, DISTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


def test_tests_templates_and_docs_import_only_public_modules():
    assert boundary.scan(DISTS) == []


def test_every_plugin_directory_is_checked():
    assert {d.directory.name for d in DISTS} == {p.parent.name for p in boundary.ROOT.glob("plugins/*/pyproject.toml")}
    assert all(d.package in boundary.importlinter_config(DISTS) for d in DISTS)


@pytest.mark.parametrize("source, message", [
    ("from pxos_kernel.config import load_yaml\n", "imports private kernel module pxos_kernel.config"),
    ("from pxos_kernel import ledger\n", "imports private kernel module pxos_kernel.ledger"),
    ("import pxos_kernel.plugins\n", "imports private kernel module pxos_kernel.plugins"),
    ("from pxos_cartridge.plugin import pxos_subcommands\n",
     "imports pxos_cartridge.plugin, a private module of pxos-cartridge"),
])
def test_a_crossing_is_named(source, message):
    genesis = next(d for d in DISTS if d.name == "pxos-genesis")
    [problem] = boundary.problems_in(source, "example.py", DISTS, genesis)
    assert problem.startswith(f"example.py:1: {message}")


def test_public_imports_pass():
    genesis = next(d for d in DISTS if d.name == "pxos-genesis")
    source = ("from pxos_kernel import Kernel, hookimpl\nfrom pxos_kernel.container import read_container\n"
              "from pxos_kernel.testing import StorageConformance\nfrom pxos_cartridge.archive import open_archive\n")
    assert boundary.problems_in(source, "example.py", DISTS, genesis) == []


def test_the_contract_catches_a_private_import_in_a_package(tmp_path):
    """Seeded violation: a copy of pxos-agents whose package imports pxos_kernel.config."""
    import shutil

    agents = next(d for d in DISTS if d.name == "pxos-agents")
    copy = tmp_path / "pxos-agents"
    shutil.copytree(agents.directory / agents.package, copy / agents.package)
    (copy / agents.package / "bad.py").write_text("from pxos_kernel.config import load_yaml\n")
    dists = [d if d is not agents else boundary.Dist(d.name, copy, d.package, d.public, d.depends) for d in DISTS]
    config = tmp_path / "importlinter.ini"
    config.write_text(boundary.importlinter_config(dists), encoding="utf-8")
    result = boundary.run_importlinter(config, dists)
    assert result.returncode != 0
    assert "pxos_agents.bad -> pxos_kernel.config" in result.stdout
