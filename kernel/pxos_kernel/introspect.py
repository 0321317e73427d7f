"""``inspect``: what this kernel is, what it has loaded, and which protections really hold here."""

from __future__ import annotations

import platform
import sys
from typing import Any, Optional


def inspect_self(kernel: Any, engines: bool = False) -> dict:
    """What this kernel is, what it has loaded, and which protections really hold here.

    ``engines=True`` also asks each inference engine for its own report (``describe()``), which
    builds every engine and so imports its libraries (numpy, a GPU stack); without it each engine
    is listed as not probed, and ``inspect`` stays as light as the rest of start-up.
    """
    from pxos_kernel import __version__
    from pxos_kernel.registrations import FAMILIES
    from pxos_kernel.sandbox import mechanisms_report, protections

    registries, problems = {}, kernel.plugins.collect_all()
    for family in FAMILIES:
        try:
            registries[family] = kernel.registry(family).names()
        except Exception as exc:
            registries[family] = []
            problems.append(str(exc))
    world = kernel.world
    missing_defaults = {k: v for k, v in world.defaults.items() if v not in registries[k]}
    loaded = {i.distribution for i in kernel.plugins.info.values() if i.loaded}
    return {
        "kernel": {"version": __version__, "python": platform.python_version(), "platform": sys.platform,
                   "home": str(kernel.home)},
        "plugins": {name: {"distribution": i.distribution, "loaded": i.loaded, "errors": i.errors}
                    for name, i in kernel.plugins.info.items()},
        "registries": registries,
        "problems": list(dict.fromkeys(problems + list(kernel.plugins.warnings))),
        "world": {"name": world.name, "source": world.source, "defaults": dict(world.defaults),
                  "missing_defaults": missing_defaults,
                  "missing_plugins": [d for d in world.expects if d not in loaded]},
        "ledger": {"location": kernel.ledger.location, "head": _head(kernel.ledger)},
        "sandbox": protections(kernel.section("sandbox").get("mechanism")),
        "sandbox_mechanisms": mechanisms_report(),
        "engines": _engines(kernel, registries.get("inference", [])) if engines else
        {name: {"not_probed": "run 'pxos-kernel inspect --engines' (it loads each engine and its libraries)"}
         for name in registries.get("inference", [])},
    }


def _engines(kernel: Any, names: list) -> dict:
    """Each inference engine's own report of where it computes (engines with a ``describe()``: pixellm-gpu's adapter)."""
    from pxos_kernel.errors import PxosError

    found = {}
    for name in names:
        try:
            engine = kernel.engine(name)
            if hasattr(engine, "describe"):
                found[name] = engine.describe()
        except PxosError as exc:
            found[name] = {"error": str(exc)}
        except ImportError as exc:  # its library is not installed (numpy in a pure-Python system cartridge)
            from pxos_kernel.system import missing_module

            found[name] = {"error": missing_module(exc.name or "?")}
    return found


def _head(ledger: Any) -> Optional[dict]:
    try:
        head = ledger.head()
    except Exception as exc:
        return {"error": str(exc)}
    return None if head is None else {"seq": head.get("seq"), "id": head.get("id"), "hash": head.get("hash")}
