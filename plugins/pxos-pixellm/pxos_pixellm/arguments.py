"""Argument parsers of the ``model ...`` commands (stdlib only: built on every CLI start)."""

from __future__ import annotations

import argparse

from pxos_kernel import add_json_flag


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", default=None,
                        help="model: default (shipped), a registered NAME or NAME@VERSION (see `model list`), or a .pxi path")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Which inference engine computes: pixellm itself, or another that serves pixellm's models."""
    parser.add_argument("--engine", default="pixellm",
                        help="inference engine: pixellm (numpy, the default) or another installed one that serves "
                        "these models, e.g. pixellm-gpu")
    parser.add_argument("--offload", default=None,
                        help="GPU engines: which layers run on the GPU, 'all', 'none' or 'layers N-M' "
                        "(default: the engine's config)")


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """The generation flags shared by ``model generate`` and ``run pixellm``."""
    add_model_argument(parser)
    add_engine_arguments(parser)
    parser.add_argument("--max-tokens", type=int, default=200, help="bytes to generate (default 200)")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k most likely bytes")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold in (0, 1]")
    parser.add_argument("--seed", type=int, default=None, help="seed: the same seed gives the same text")
    parser.add_argument("--stop", action="append", default=[], help="stop before this string (repeatable)")


def configure_generate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="text to continue; '-' reads the prompt bytes from standard input. "
                        "A prompt longer than the context keeps its last context-1 bytes")
    add_sampling_arguments(parser)
    add_json_flag(parser, help="do not stream: print one JSON object at the end (text, token counts, finish "
                  "reason, seconds)")


def configure_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", default=None, help="model name or .pxi path (default: shipped)")
    add_engine_arguments(parser)
    add_json_flag(parser)


def configure_picture(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", default=None, help="model name or .pxi path (default: shipped)")
    parser.add_argument("-o", "--output", dest="out", required=True, help="PNG file to write")
    parser.add_argument("--tensor", default=None,
                        help="show only this tensor (default: every tensor, stacked top to bottom)")
    add_json_flag(parser)


def configure_convert(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a Hugging Face model directory (config.json + *.safetensors), "
                        "a .gguf file, or a .pxi model to export")
    parser.add_argument("-o", "--output", dest="out", required=True,
                        help="the .pxi to write (import); exporting a .pxi: a .gguf file, or a directory "
                        "(safetensors + tokenizer.json)")
    parser.add_argument("--encoding", default="fp16", choices=("fp32", "fp16", "bf16", "int8", "uint8"),
                        help="how tensors are stored in the container (default fp16)")
    parser.add_argument("--level", type=int, default=0, choices=range(10), metavar="0-9",
                        help="zlib level of the PNG (default 0: weights barely compress and load fastest stored)")
    parser.add_argument("--tokenizer", default=None, choices=("hf", "bytes", "none"),
                        help="which tokenizer to store: hf (the source's tokenizer.json or GGUF vocabulary: the "
                        "default when there is one), bytes (token id = byte value) or none (logits only)")
    add_json_flag(parser)


def configure_eval(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--text", default=None, help="file to evaluate on (default: the shipped held-out text)")
    parser.add_argument("--bytes", type=int, default=None, help="evaluate on the first N bytes only")
    parser.add_argument("--encoding", default=None, choices=("fp32", "fp16", "bf16", "int8", "uint8"),
                        help="re-encode the weights this way before evaluating (measures quantization cost)")
    add_json_flag(parser)


def configure_inspect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", default=None, help="model name or .pxi path (default: shipped)")
    parser.add_argument("-o", "--output", dest="out", default=None,
                        help="directory to write a picture of each tensor into (NNN-NAME.png, red positive, "
                        "blue negative)")
    parser.add_argument("--tensor", default=None, help="also print where this tensor's pixels lie in the PNG")
    add_json_flag(parser)


def configure_chat(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("message", nargs="?", default=None,
                        help="one user message to answer; without it, each line of standard input is a turn of "
                        "one conversation")
    parser.add_argument("--system", default=None, help="a system message to start the conversation with")
    add_sampling_arguments(parser)
    add_json_flag(parser, help="do not stream: print the conversation as one JSON object when it ends "
                  "(every message, and each reply's tokens and finish reason)")


def configure_register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("container", help="the .pxi model container to register (or 'default': the shipped model)")
    parser.add_argument("--name", required=True, help="the model's name (lowercase letters, digits, '-', '_', '.')")
    parser.add_argument("--version", default=None, help="version label (default: v1, v2, ...)")
    parser.add_argument("--parent", default=None, help="NAME@VERSION it was made from (fine-tunes: default current)")
    parser.add_argument("--method", default="convert", choices=("convert", "train", "fine-tune"),
                        help="how it was made (default convert)")
    parser.add_argument("--made-by", default=None, help="who made it (default: your login name)")
    parser.add_argument("--maker-kind", default="human", choices=("human", "llm", "program"))
    parser.add_argument("--training-data", default=None, help="the file it was trained on (its sha256 is kept)")
    parser.add_argument("--eval-text", default=None,
                        help="held-out text to measure bits/byte on (default: the parent's, else the shipped one)")
    parser.add_argument("--eval-name", default=None, help="a name for that text (default: its file name)")
    parser.add_argument("--notes", default="", help="free text kept with the version")
    add_json_flag(parser)


def configure_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=None, help="only this model's versions")
    add_json_flag(parser)


def configure_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", help="NAME (its current version) or NAME@VERSION")
    add_json_flag(parser)


def _approval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--approved-by", required=True, help="the human who approves (recorded)")
    parser.add_argument("--reason", required=True, help="why (recorded)")
    parser.add_argument("--approver-kind", default="human", choices=("human", "llm"),
                        help="only a human's approval makes a model version current")
    add_json_flag(parser)


def configure_promote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", help="NAME@VERSION to make current")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="how much worse than the parent its held-out bits/byte may be, relative (default 0.01)")
    _approval(parser)


def configure_rollback(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the model to roll back")
    parser.add_argument("--to", default=None, help="the version to make current (default: the previous current)")
    _approval(parser)


def configure_lineage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", help="NAME (its current version) or NAME@VERSION")
    add_json_flag(parser)


def configure_finetune(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the registered model to start from (its current version, or NAME@VERSION)")
    parser.add_argument("--data", required=True, help="UTF-8 text file to train on (its sha256 is recorded)")
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps (default 60)")
    parser.add_argument("--lr", type=float, default=3e-4, help="AdamW learning rate (default 3e-4)")
    parser.add_argument("--batch", type=int, default=8, help="windows per step (default 8)")
    parser.add_argument("--context", type=int, default=0, help="window length in tokens (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    parser.add_argument("--version", default=None, help="version label of the result (default: the next vN)")
    add_json_flag(parser)
