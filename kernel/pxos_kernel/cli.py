"""``pxos-kernel``: the command line, assembled from every plugin's subcommands.

Errors a user can cause arrive as :class:`~pxos_kernel.errors.PxosError` and
are printed as one line (``pxos-kernel: error: ...``) with a non-zero exit;
``--debug`` (or ``PXOS_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

PROG = "pxos-kernel"


def _error(message: str, code: int = 1) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def chosen_command(names: list[str], argv: Sequence[str]) -> Optional[str]:
    """The registered command named by the leading words of ``argv`` (longest match)."""
    words = [w for w in argv if not w.startswith("-")]
    best = None
    for name in names:
        parts = name.split()
        if words[:len(parts)] == parts and (best is None or len(parts) > len(best.split())):
            best = name
    return best


def build_parser(kernel, argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The whole command tree, with arguments declared only for the command being run.

    Declaring arguments imports a command's module; doing it for the chosen
    command alone keeps start-up independent of how many plugins are installed.
    """
    from pxos_kernel import __version__

    parser = argparse.ArgumentParser(prog=PROG, description="pxOS: a pixel-native runtime. Every run is logged "
                                     "to a tamper-evident ledger; every feature is a plugin.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {(): top}
    parsers: dict[tuple[str, ...], argparse.ArgumentParser] = {(): parser}
    registry = kernel.registry("subcommand")
    selected = chosen_command(registry.names(), argv)
    for name in sorted(registry.names(), key=lambda n: (n.count(" "), n)):
        command = registry.get(name)
        words = tuple(name.split())
        for depth in range(1, len(words)):
            prefix = words[:depth]
            if prefix not in parsers:
                sub = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{' '.join(prefix)} commands")
                sub.set_defaults(_group=sub)
                parsers[prefix] = sub
            if prefix not in groups:
                groups[prefix] = parsers[prefix].add_subparsers(dest=f"command_{depth}", metavar="COMMAND")
        sub = groups[words[:-1]].add_parser(words[-1], help=command.summary,
                                            description=command.description or command.summary)
        if command.configure_parser and name == selected:
            command.configure_parser(sub)
        sub.set_defaults(_action=command.action)
        parsers[words] = sub
    return parser


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
    except KeyboardInterrupt:
        return _error("interrupted", 130)
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
