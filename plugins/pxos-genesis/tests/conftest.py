from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def make_cartridge(pxos_kernel, tmp_path):
    """Pack a copy of the wordcount example (changed by ``edit(tree)``) and register it."""
    import shutil

    from pxos_cartridge.archive import pack_tree
    from pxos_cartridge.registry import CartridgeRegistry

    def make(version: str = "1.0.0", edit=None, notes: str = "example", builder=None) -> dict:
        tree = tmp_path / f"tree-{version}"
        shutil.copytree(EXAMPLES / "wordcount", tree)
        if edit:
            edit(tree)
        archive = tmp_path / f"wordcount-{version}.pxa"
        pack_tree(tree, archive)
        return CartridgeRegistry(pxos_kernel).register(archive, version=version, notes=notes,
                                                       builder=builder or {"kind": "human", "who": "tester"})

    return make


def report(kernel, subject, **context) -> dict:
    """Every guardrail's item, by id."""
    return {i["id"]: i for i in kernel.hypervisor.validate_genesis(subject, context)["items"]}


@pytest.fixture(autouse=True, scope="session")
def _sandbox_isolation(pxos_sandbox):
    """These tests run cartridge and task tests through the kernel sandbox, which needs filesystem isolation."""
    return pxos_sandbox
