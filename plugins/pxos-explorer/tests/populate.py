"""Fill a PXOS_HOME with real things to explore: runs in the ledger, cartridges, objects, a map.

Everything is made through the same public APIs a user's commands go through:
the hypervisor runs programs (pre and post records), the cartridge registry
packs, registers, tests (in the sandbox) and promotes, the storage backends
store objects, and the InfiniteMap's tile space holds a picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

GREETER = {
    "cartridge.yaml": "name: greeter\nversion: {version}\nsummary: Say hello from a pixel archive\n"
                      "programs:\n  greet: greeter.cli:main\ntests:\n  command: [python, -m, pytest, -q, tests]\n",
    "greeter/__init__.py": '"""A greeter."""\n',
    "greeter/cli.py": "import sys\n\n\ndef main(*args):\n    print(greet(args[0] if args else 'world'))\n\n\n"
                      "def greet(name):\n    return '{greeting}, ' + name + ', from a pixel archive!'\n",
    "tests/test_greeter.py": "from greeter.cli import greet\n\n\ndef test_greet():\n"
                             "    assert greet('Ada') == '{greeting}, Ada, from a pixel archive!'\n",
}


def greeter_tree(root: Path, version: str, greeting: str) -> Path:
    tree = root / f"greeter-{version}"
    for name, text in GREETER.items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{version}", version).replace("{greeting}", greeting))
    return tree


def add_records(kernel: Any, runs: int = 3) -> None:
    """Program runs (the hypervisor's RUN pre/post records) and records of a few other kinds."""
    for i in range(runs):
        kernel.hypervisor.run_program("hello", [f"user{i}"], capture=True)
    kernel.checkpoint("STATE", "tick", {"n": 1, "player": {"x": 100, "y": 20}, "tags": ["a", "b"], "ok": True},
                      corridor="DISTRICT_2.CHAMBER_GAME.NODE_TICK", agent="game")
    kernel.checkpoint("ANOMALY", "router", {"where": "router", "latency_ms": 412.5, "note": None},
                      corridor="DISTRICT_3.CHAMBER_NET.NODE_ALERT", agent="watchdog")


def add_cartridges(kernel: Any, work: Path) -> None:
    """greeter 1.0.0 (tested, promoted) and 1.1.0 (tested, not promoted)."""
    from pxos_cartridge.archive import pack_tree
    from pxos_cartridge.registry import CartridgeRegistry

    registry = CartridgeRegistry(kernel)
    for version, greeting in (("1.0.0", "Hello"), ("1.1.0", "Hi there")):
        archive = work / f"greeter-{version}.pxa"
        pack_tree(greeter_tree(work, version, greeting), archive)
        registry.register(archive, notes=f"greeting: {greeting}")
        registry.test("greeter", version, timeout=120)
    registry.promote("greeter", "1.0.0", approved_by="alice", reason="first release")


def add_objects(kernel: Any) -> None:
    """Two pixelfs objects, three InfiniteMap objects and a picture painted on the map."""
    import numpy as np

    pixelfs = kernel.storage("pixelfs")
    pixelfs.put("docs/notes.txt", ("pxOS keeps bytes in pixels. " * 200).encode(), content_type="text/plain")
    pixelfs.put("data/ramp.bin", bytes(range(256)) * 64, content_type="application/octet-stream")
    infinite = kernel.storage("infinitemap")
    infinite.put("greeting.txt", b"hello from the infinite map\n" * 400, content_type="text/plain")
    infinite.put("noise.bin", np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8).tobytes())
    infinite.put("ramp.bin", bytes(range(256)) * 2000)
    y, x = np.mgrid[0:512, 0:768]
    picture = np.stack([(x * 255 // 767), (y * 255 // 511), ((x + y) % 256)], axis=-1).astype(np.uint8)
    infinite.map.write(-1024, -512, picture)  # outside the objects' zone (x >= 0, y >= 0)
    infinite.map.flush()


def populate(kernel: Any, work: Path, *, cartridges: bool = True) -> None:
    add_records(kernel)
    add_objects(kernel)
    if cartridges:
        add_cartridges(kernel, work)
    add_records(kernel, runs=1)
