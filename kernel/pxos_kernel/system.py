"""Which pxOS this process is: the installed one, or a system cartridge booted by ``pxos.py``.

The boot shim puts an archive finder first on ``sys.meta_path`` whose ``system``
attribute is its boot record: ``name``, ``version``, ``current`` (whether it is
the registry's current system), ``archive``, ``sha256``, ``shim`` and ``home``.
Nothing here imports the shim; the record is all the kernel needs, e.g. to start
a child process on the same system, or to sandbox the programs of a system that
is not current.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence


def booted_system() -> Optional[dict]:
    """The boot record of the system cartridge this process runs from, or None for an installed pxOS."""
    for finder in sys.meta_path:
        record = getattr(finder, "system", None)
        if isinstance(record, dict) and record.get("archive"):
            return dict(record)
    return None


def missing_module(module: str) -> str:
    """One line saying that a feature needs ``module``, and how to get it."""
    top = module.partition(".")[0]
    system = booted_system()
    if system is None:
        return f"this needs the Python module {top!r}, which is not installed: pip install {top}"
    missing = (system.get("missing") or {}).get(top)
    label = f"{system['name']}@{system['version']}" if system.get("version") else system["archive"]
    if missing is not None:
        hint = "" if "--native" in missing["reason"] else "; boot a system packed with 'pxos-kernel world pack --native'"
        return f"this needs {missing['name']}, which the system cartridge {label} does not carry ({missing['reason']}){hint}"
    return f"this needs the Python module {top!r}, which the system cartridge {label} does not carry"


def python_command(module: str, args: Sequence[str] = ()) -> list[str]:
    """The argv of a child Python that runs ``module`` (as ``python -m``) on this same pxOS.

    From a system cartridge that is the shim again, given the archive and its
    sha256, so the child checks the archive itself before running any of it.
    """
    system = booted_system()
    if system is None:
        return [sys.executable, "-I", "-m", module, *args]
    return [sys.executable, "-I", "-S", system["shim"], "--world", system["archive"], "--sha256", system["sha256"],
            "-m", module, *args]
