"""Programs built into the kernel."""

from __future__ import annotations


def hello(*names: str) -> int:
    """Greet the world (or the names given) from inside the hypervisor."""
    print(f"Hello, {', '.join(names) or 'world'}, from pxOS!")
    return 0
