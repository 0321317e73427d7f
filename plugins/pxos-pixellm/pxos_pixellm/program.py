"""``pxos-kernel run pixellm -- [FLAGS] PROMPT...``: the shipped model as a program.

The words after ``--`` are the prompt (joined with spaces); the flags are
those of ``model generate``, so ``--model NAME[@VERSION]`` picks a registered model.
"""

from __future__ import annotations

import argparse

from .arguments import add_sampling_arguments


def engine_settings() -> dict:
    """The settings ``kernel.engine("pixellm")`` would get: so --model finds registered models by name."""
    from pxos_kernel import Kernel

    kernel = Kernel(load_plugins=False)
    try:
        return {"root": str(kernel.home / "inference" / "pixellm"), **kernel.section("inference").get("pixellm", {})}
    finally:
        kernel.close()


def main(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pxos-kernel run pixellm --", description=__doc__.splitlines()[0])
    parser.add_argument("prompt", nargs="+", help="text to continue")
    add_sampling_arguments(parser)
    args = parser.parse_args(list(argv))
    from pxos_kernel import PxosError

    from .commands import _engine, read_prompt, stream_generation
    from .engine import PixelEngine

    try:
        if args.engine == "pixellm" and args.offload is None:
            return stream_generation(PixelEngine(engine_settings()), read_prompt(" ".join(args.prompt)), args)
        from pxos_kernel import Kernel

        with Kernel() as kernel:  # another engine (--engine pixellm-gpu): the kernel's, with its plugins
            args.kernel = kernel
            return stream_generation(_engine(args), read_prompt(" ".join(args.prompt)), args)
    except PxosError as exc:
        parser.exit(2, f"pixellm: {exc}\n")
