"""Where this process's code came from: ``python3 -I pxos.py -m pxos_cartridge.probe`` prints it as JSON.

It boots a kernel with every plugin of the system, then reports each loaded
module that is not part of the standard library, with the file it was loaded
from, and the distributions ``importlib.metadata`` sees. Booted from a system
cartridge, every one of them must be inside the archive (Genesis §1.4; the
test of the boot shim).
"""

from __future__ import annotations

import json
import os
import sys


def report() -> dict:
    import importlib.metadata

    from pxos_kernel import Kernel, booted_system

    kernel = Kernel(os.environ.get("PXOS_HOME") or None)
    kernel.plugins.collect_all()
    world = kernel.world.source  # world.yaml, read through importlib.resources
    kernel.close()
    stdlib = os.path.dirname(os.__file__) + os.sep
    modules = {}
    for name, module in sorted(sys.modules.items()):
        where = getattr(module, "__file__", None)
        if name == "__main__" or not where or where.startswith(stdlib):
            continue
        modules[name] = where
    system = booted_system()
    return {"system": system, "modules": modules, "world": world,
            "plugins": sorted(i.distribution for i in kernel.plugins.info.values() if i.loaded),
            "distributions": sorted({d.metadata["Name"] for d in importlib.metadata.distributions()}),
            "path": list(sys.path)}


if __name__ == "__main__":
    json.dump(report(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
