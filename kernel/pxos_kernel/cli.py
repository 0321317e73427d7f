"""``pxos-kernel``: the command line, assembled from every plugin's subcommands.

Errors a user can cause arrive as :class:`~pxos_kernel.errors.PxosError` and
are printed as one line (``pxos-kernel: error: ...``) with a non-zero exit;
``--debug`` (or ``PXOS_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Optional, Sequence

PROG = "pxos-kernel"


def _error(message: str, code: int = 1) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, reading the terminal's width without :mod:`shutil`.

    argparse makes a formatter for every argument it declares, not only for
    help, and its formatter imports ``shutil`` (and with it ``bz2``, ``lzma``
    and ``fnmatch``) for ``shutil.get_terminal_size``: that cost every command
    several milliseconds. The width is found the same way: ``COLUMNS``, else
    the terminal of standard output, else 80 columns.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None) -> None:
        if width is None:
            width = _terminal_columns() - 2  # argparse's own margin
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    """The columns :func:`shutil.get_terminal_size` reports."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    """An argument parser formatting with :class:`_HelpFormatter`; subcommands' parsers are of this class too
    (``add_subparsers`` makes parsers of its parser's type)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser(kernel, argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parsers on the path to the command being run, and the choices where that path ends.

    ``pxos-kernel ledger verify`` builds three parsers (top, ``ledger``,
    ``verify``) and declares arguments for ``verify`` alone;
    ``pxos-kernel ledger`` builds ``ledger`` and one unconfigured parser per
    ``ledger`` command, for its help. Building the whole tree (74 parsers
    with every plugin installed) cost more than everything else at start-up,
    and declaring arguments imports a command's module: so start-up stays
    independent of how many plugins and commands are installed.
    """
    from pxos_kernel import __version__

    parser = _Parser(prog=PROG, description="pxOS: a pixel-native runtime. Every run is logged "
                                     "to a tamper-evident ledger; every feature is a plugin.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars (else shown on stderr when it is a terminal; also PXOS_QUIET=1)")
    registry = kernel.registry("subcommand")
    tree: dict = {}  # word -> subtree; the subtree of a command holds it under the key None
    for name in registry.names():
        node = tree
        for word in name.split():
            node = node.setdefault(word, {})
        node[None] = registry.get(name)
    words = [w for w in argv if not w.startswith("-")]
    path: list[str] = []
    node = tree
    current: argparse.ArgumentParser = parser
    while True:
        children = sorted(word for word in node if word is not None)
        if not children:
            break
        # prog given, as argparse would compute it (a parser here has no positionals before its commands),
        # spares formatting a usage line per level.
        group = current.add_subparsers(dest=f"command_{len(path)}" if path else "command", metavar="COMMAND",
                                       prog=current.prog)
        chosen = words[len(path)] if len(path) < len(words) and words[len(path)] in children else None
        for word in children if chosen is None else [chosen]:
            sub = _add_command(group, path + [word], node[word])
            if word == chosen:
                current = sub
        if chosen is None:
            break
        path.append(chosen)
        node = node[chosen]
    command = node.get(None)
    if command is not None and command.configure_parser:
        command.configure_parser(current)
    return parser


def _add_command(group: argparse._SubParsersAction, words: list[str], node: dict) -> argparse.ArgumentParser:
    """One parser under ``group``: a command (its action set, arguments not yet declared) or a group."""
    command = node.get(None)
    if command is None:
        sub = group.add_parser(words[-1], help=f"{' '.join(words)} commands")
        sub.set_defaults(_group=sub)
    else:
        sub = group.add_parser(words[-1], help=command.summary, description=command.description or command.summary)
        sub.set_defaults(_action=command.action)
    return sub


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:  # answer without loading a single plugin
        from pxos_kernel import __version__

        print(f"{PROG} {__version__}")
        return 0
    debug = "--debug" in argv or os.environ.get("PXOS_DEBUG") not in (None, "", "0")
    from pxos_kernel.errors import PxosError

    kernel = None
    try:
        from pxos_kernel.core import Kernel

        kernel = Kernel()
        parser = build_parser(kernel, argv)
        # argparse mishandles "--" below nested subcommands, so split it off here.
        rest: list[str] = []
        if "--" in argv:
            cut = argv.index("--")
            argv, rest = argv[:cut], argv[cut + 1:]
        args = parser.parse_args(argv)
        args.rest = rest
        if args.quiet:  # through the environment, so that sandboxed and other child processes stay quiet too
            from pxos_kernel.progressbar import QUIET_VARIABLE

            os.environ[QUIET_VARIABLE] = "1"
        action = getattr(args, "_action", None)
        if action is None:
            (getattr(args, "_group", None) or parser).print_help(sys.stderr)
            return 2
        args.kernel = kernel
        code = action(args)
        return int(code or 0)
    except PxosError as exc:
        if debug:
            raise
        return _error(str(exc), exc.exit_code)
    except ModuleNotFoundError as exc:  # a feature whose library is not installed (numpy in a pure-Python system)
        if debug or not exc.name:
            raise
        from pxos_kernel.system import missing_module

        return _error(missing_module(exc.name))
    except KeyboardInterrupt as exc:  # a sandboxed run says which signal and where its record is
        return _error(str(exc) or "interrupted", getattr(exc, "exit_code", 130))
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        if kernel is not None:
            try:
                kernel.close()
            except PxosError as exc:
                _error(str(exc))


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
