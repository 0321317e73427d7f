"""What the ``cartridge ...`` and ``world ...`` commands share: the registry, their arguments, their output."""

from __future__ import annotations

from typing import Any, Callable

from pxos_kernel import add_json_flag, print_json, print_table


def open_registry(args: Any, *, system: bool = False) -> Any:
    """The kernel's cartridge registry, or (``system``) its system cartridge registry."""
    if system:
        from pxos_cartridge.world import SystemRegistry

        return SystemRegistry(args.kernel)
    from pxos_cartridge.registry import CartridgeRegistry

    return CartridgeRegistry(args.kernel)


def add_ref(parser: Any, dest: str, *, metavar: str, help_text: str, optional: bool = False) -> None:
    """The positional argument naming the version a command is about (``optional``: it may be left out)."""
    parser.add_argument(dest, nargs="?" if optional else None, metavar=metavar, help=help_text)


def add_provenance(parser: Any, *, builder: str, notes: str) -> None:
    """The flags of a registration that say where a version comes from: its parent, who built it, notes."""
    parser.add_argument("--parent", help="parent version (default: the current one, else the latest)")
    parser.add_argument("--builder", choices=("human", "llm"), default="human", help=builder)
    parser.add_argument("--by", dest="who", help="the builder's name (default: your login name)")
    parser.add_argument("--notes", default="", help=notes)


def add_approval(parser: Any, *, who: str, approver: str, breaking: str,
                 reason: str = "why (recorded in history and ledger)") -> None:
    """The flags of a promotion or a rollback: who approves, what kind of approver, why, and ``--json``."""
    parser.add_argument("--approved-by", required=True, metavar="WHO", help=who)
    parser.add_argument("--approver", choices=("human", "llm"), default="human", help=approver)
    parser.add_argument("--reason", required=True, metavar="WHY", help=reason)
    parser.add_argument("--breaking-ok", action="store_true", help=breaking)
    add_json_flag(parser)


def print_result(args: Any, value: Any, show: Callable[[Any], None]) -> int:
    """Print ``value`` as JSON under ``--json``, else as ``show`` writes it for people; exit code 0."""
    if args.json:
        print_json(value)
    else:
        show(value)
    return 0


def builder_of(record: dict) -> str:
    """Who built a version, as the tables show it: ``human:ada``."""
    return f"{record['builder']['kind']}:{record['builder']['who']}"


def tests_verdict(record: dict) -> str:
    """A version's last test run, in one word for a table: ``-`` (never run), ``passed`` or ``failed``."""
    return "-" if not record["tests"] else ("passed" if record["tests"]["passed"] else "failed")


def show_lineage(chain: list) -> None:
    """A version's ancestry as ``cartridge lineage`` and ``world lineage`` print it, root first."""
    print_table(["gen", "version", "status", "builder", "created", "notes"], [
        [r["generation"], r["version"], r["status"], builder_of(r), r["created"], r["notes"]] for r in chain])


def show_fields(record: dict, rows: list) -> None:
    """A version's ``(field, value)`` rows aligned, as ``show`` prints them, and last how it became current."""
    if record.get("promoted"):
        p = record["promoted"]
        rows = [*rows, ("made current", f"{p['action']} by {p['kind']}:{p['by']} at {p['at']}: {p['reason']}")]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
