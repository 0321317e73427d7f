"""How commands print: one `--json` flag, JSON and aligned tables (public through `pxos_kernel`)."""

from __future__ import annotations

import sys
from typing import Any, Iterable, Sequence


def add_json_flag(parser, help: str = "print JSON instead of a table") -> None:
    """Give a command the ``--json`` flag: it then prints :func:`print_json` output instead of a table.

    ``help`` says what changes where it is more than that (``model generate
    --json`` stops streaming and prints one object at the end).
    """
    parser.add_argument("--json", action="store_true", help=help)


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON with sorted keys (objects it cannot encode as their ``str``)."""
    import json  # only when asked for: a table must not pay for it at start-up

    json.dump(value, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print rows as aligned columns (no borders, like ``pip list``)."""
    rows = [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def add_sandbox_flags(parser, *, what: str = "sandboxed code") -> None:
    """The sandbox options of every command that runs untrusted code; :func:`sandbox_flags` reads them back.

    Values are checked when the run starts, so a bad one gets one line naming
    its flag (``--timeout nan is not a finite number of seconds``).
    """
    parser.add_argument("--timeout", metavar="S", help="wall-clock limit in seconds (sandbox)")
    parser.add_argument("--memory-mb", metavar="MB", help="memory limit of the whole process tree (sandbox)")
    parser.add_argument("--cpu-seconds", metavar="S", help="CPU-time limit of the whole process tree (sandbox)")
    parser.add_argument("--processes", metavar="N", help="most processes the tree may have at once (sandbox)")
    parser.add_argument("--allow-unisolated", action="store_true",
                        help=f"run {what} even where no filesystem isolation works here (written to the ledger)")


def sandbox_flags(args) -> dict:
    """The sandbox limits given on the command line, as ``limits=`` for ``run_program``/``run_command``."""
    return {name: getattr(args, name) for name in ("timeout", "memory_mb", "cpu_seconds", "processes")
            if getattr(args, name, None) is not None}
