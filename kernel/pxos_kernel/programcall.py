"""Importing a program's entry point and calling it: shared by in-process and sandboxed runs.

Kept to the standard library's lightest modules, because every sandboxed
child imports it before anything else.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional, Sequence

from pxos_kernel.errors import NotFoundError, ProgramError


def load_entry(path: str) -> Any:
    """Import ``package.module:function`` and return the callable."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ProgramError(f"program {path!r} is not of the form package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise NotFoundError(f"program {path!r}: no module named {exc.name!r}") from None
        raise ProgramError(f"program {path!r}: importing {module_name} failed: {exc}") from exc
    except Exception as exc:
        raise ProgramError(f"program {path!r}: importing {module_name} raised {type(exc).__name__}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise NotFoundError(f"program {path!r}: {module_name} has no attribute {attr!r}") from None
    if not callable(target):
        raise ProgramError(f"program {path!r}: {attr} is a {type(target).__name__}, not callable")
    return target


def call_program(function: Any, args: Sequence[str]) -> tuple[str, int, Any, Optional[str]]:
    """Call a program function; return ``(status, exit_code, value, error)``."""
    try:
        value = function(*args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return ("ok" if code == 0 else "failed"), code, None, None if code == 0 else f"exited with {exc.code!r}"
    except MemoryError:
        return "memory", 137, None, "MemoryError: the program ran out of memory"
    except Exception as exc:
        import traceback  # only when a program failed

        tb = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" (at {tb.filename}:{tb.lineno})" if tb else ""
        return "error", 1, None, f"{type(exc).__name__}: {exc}{where}"
    if isinstance(value, int) and not isinstance(value, bool):
        return ("ok" if value == 0 else "failed"), value, None, None if value == 0 else f"exit code {value}"
    return "ok", 0, value, None
