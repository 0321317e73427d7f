"""``pxos-kernel run pixellm -- [FLAGS] PROMPT...``: the shipped model as a program.

The words after ``--`` are the prompt (joined with spaces); the flags are
those of ``model generate``.
"""

from __future__ import annotations

import argparse

from .arguments import add_sampling_arguments


def main(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pxos-kernel run pixellm --", description=__doc__.splitlines()[0])
    parser.add_argument("prompt", nargs="+", help="text to continue")
    add_sampling_arguments(parser)
    args = parser.parse_args(list(argv))
    from pxos_kernel.errors import PxosError

    from .commands import read_prompt, stream_generation
    from .engine import PixelEngine

    try:
        return stream_generation(PixelEngine({}), read_prompt(" ".join(args.prompt)), args)
    except PxosError as exc:
        parser.exit(2, f"pixellm: {exc}\n")
