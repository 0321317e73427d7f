"""Fixtures for pxos-cartridge: an example tree, archives (honest and hostile), a kernel with only this plugin."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "greeter"


@pytest.fixture
def greeter_tree(tmp_path) -> Path:
    """A private copy of examples/greeter to pack and modify."""
    tree = tmp_path / "greeter-src"
    shutil.copytree(EXAMPLE, tree, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return tree


@pytest.fixture
def kernel(pxos_home, monkeypatch):
    """A kernel with only the kernel's own plugin and this one (no guardrails from other plugins)."""
    from pxos_kernel import Kernel

    monkeypatch.setenv("PXOS_PLUGINS", "cartridge")
    k = Kernel(pxos_home)
    yield k
    k.close()


@pytest.fixture
def cli(kernel, pxos_cli):
    """``pxos_cli`` restricted to the same plugins as ``kernel``."""
    return pxos_cli


def write_raw_archive(path: Path, files: list[tuple[str, bytes]], *, members: list[dict] | None = None,
                      payload: bytes | None = None, manifest: dict | None = None) -> Path:
    """Write a container of kind archive with whatever member table a test wants (hostile ones too)."""
    from pxos_kernel.container import write_container

    table, chunks, offset = [], [], 0
    for name, data in files:
        table.append({"path": name, "offset": offset, "size": len(data),
                      "sha256": hashlib.sha256(data).hexdigest(), "mode": 0o644})
        chunks.append(data)
        offset += len(data)
    write_container(path, b"".join(chunks) if payload is None else payload, kind="archive",
                    meta={"members": table if members is None else members, "cartridge": manifest or {}})
    return path


@pytest.fixture
def raw_archive():
    return write_raw_archive


@pytest.fixture
def clean_modules():
    """Forget modules and meta-path finders a test added."""
    import yaml  # noqa: F401 - libyaml's C module cannot be imported twice: keep it out of what is forgotten

    before_modules, before_path = set(sys.modules), list(sys.meta_path)
    yield
    for name in set(sys.modules) - before_modules:
        del sys.modules[name]
    sys.meta_path[:] = before_path


@pytest.fixture(autouse=True, scope="session")
def _sandbox_isolation(pxos_sandbox):
    """These tests run cartridge and task tests through the kernel sandbox, which needs filesystem isolation."""
    return pxos_sandbox
