"""A pytest module: the kernel's conformance suites on every registration of some distributions.

An evolution build runs this file, in the sandbox, inside the candidate
system: ``PXOS_CONFORMANCE=pxos-pixelfs,pxos-ledger pytest conformance.py``.
The kernel is booted once to find what those distributions register; each
registration of a family that has a suite in :mod:`pxos_kernel.testing`
(storage, sink, inference, agent) gets a test class of that suite, named
``Test_<family>_<name>``, with the fixture the suite asks for (skipped, with
the backend's own reason, when it cannot be made without settings such as a
server address). The file is
copied from the pipeline's own (trusted) installation, so a patch can change
the suites (they are part of the kernel it patches) but not this selection.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any, Callable

import pytest

from pxos_kernel.testing import AgentConformance, EngineConformance, SinkConformance, StorageConformance

#: family -> (suite, the fixture it asks for, how to build that fixture's value)
SUITES: dict[str, tuple[type, str, Callable[[Any, str, Any], Any]]] = {
    "storage": (StorageConformance, "storage", lambda kernel, name, tmp: kernel.storage(name)),
    "sink": (SinkConformance, "make_sink",
             lambda kernel, name, tmp: lambda: kernel.registry("sink").get(name).factory({"root": str(tmp)})),
    "inference": (EngineConformance, "engine", lambda kernel, name, tmp: kernel.engine(name)),
    "agent": (AgentConformance, "agent", lambda kernel, name, tmp: kernel.agent(name)),
}


def registrations(distributions: set[str]) -> list[tuple[str, str]]:
    """``(family, name)`` of every registration made by a plugin of ``distributions``."""
    from pxos_kernel import Kernel

    with tempfile.TemporaryDirectory(prefix="pxos-conformance-") as home:
        kernel = Kernel(home)
        try:
            found = []
            for family in SUITES:
                registry = kernel.registry(family)
                for name in registry.names():
                    info = kernel.plugins.info.get(registry.owner(name))
                    distribution = info.distribution if info else "pxos-kernel"
                    if _normal(distribution) in distributions:
                        found.append((family, name))
            return found
        finally:
            kernel.close()


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _suite(family: str, name: str) -> type:
    base, fixture_name, make = SUITES[family]

    def fixture(self: Any, pxos_kernel: Any, tmp_path: Any) -> Any:
        from pxos_kernel import PxosError

        try:
            value = make(pxos_kernel, name, tmp_path)
            if family == "sink":
                value().close()  # a sink that needs a server it is not configured for says so here
        except PxosError as exc:
            pytest.skip(f"{family} {name} cannot be made in the sandbox without its settings: {exc}")
        if family == "agent":
            readiness = value.ready()
            if not readiness.ok:
                pytest.skip(f"agent {name} is not ready in the sandbox: {readiness.reason}")
        return value

    fixture.__name__ = fixture_name
    return type(f"Test_{family}_{re.sub(r'[^A-Za-z0-9]', '_', name)}", (base,),
                {fixture_name: pytest.fixture(fixture), "__module__": __name__})


_WANTED = {_normal(d) for d in os.environ.get("PXOS_CONFORMANCE", "").split(",") if d.strip()}
for _family, _name in registrations(_WANTED) if _WANTED else []:
    _cls = _suite(_family, _name)
    globals()[_cls.__name__] = _cls
