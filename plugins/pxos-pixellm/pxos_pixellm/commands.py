"""Actions of the ``model ...`` commands."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from pxos_kernel.commands import print_json, print_table
from pxos_kernel.errors import InferenceError, NotFoundError


def _engine(args: argparse.Namespace):
    """The kernel's pixellm engine (its settings and model directory), or a bare one without a kernel."""
    kernel = getattr(args, "kernel", None)
    if kernel is not None:
        return kernel.engine("pixellm")
    from .engine import PixelEngine

    return PixelEngine({})


def read_prompt(prompt: str) -> "str | bytes":
    """The prompt argument; ``-`` reads raw bytes from standard input (checked as UTF-8 later)."""
    if prompt == "-":
        return sys.stdin.buffer.read()
    # argv arrives decoded with surrogateescape: non-UTF-8 bytes come back as bytes here so the
    # error names the offending byte instead of a surrogate.
    return prompt.encode("utf-8", "surrogateescape") if any("\udc80" <= ch <= "\udcff" for ch in prompt) else prompt


def stream_generation(engine, prompt: "str | bytes", args: argparse.Namespace) -> int:
    """Generate with the sampling flags in ``args`` and print as the text arrives."""
    from .generate import generate

    loaded = engine.load(args.model)
    for piece in generate(loaded.transformer, prompt, tokenizer=loaded.tokenizer, max_tokens=args.max_tokens,
                          temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                          stop=args.stop):
        sys.stdout.write(piece.text)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    return stream_generation(_engine(args), read_prompt(args.prompt), args)


def run_info(args: argparse.Namespace) -> int:
    from .container import load_model_meta

    path = _engine(args).resolve(args.model)
    meta = load_model_meta(path)
    if args.json:
        print_json({"path": str(path), **{k: meta[k] for k in ("config", "tensors", "info", "length", "sha256")
                                          if k in meta}})
        return 0
    config = meta["config"]
    print(f"{path}  ({meta['length']} payload bytes, sha256 {meta['sha256'][:16]}...)")
    print(" ".join(f"{k}={v}" for k, v in config.items()))
    count = 0
    rows = []
    for entry in meta["tensors"]:
        n = 1
        for dim in entry["shape"]:
            n *= dim
        count += n
        scales = entry.get("scales")
        rows.append((entry["name"], "x".join(map(str, entry["shape"])), entry["dtype"], entry["encoding"],
                     entry["offset"], entry["length"], _describe_scales(scales)))
    print_table(("tensor", "shape", "dtype", "encoding", "offset", "length", "scales"), rows)
    print(f"{len(rows)} tensors, {count} parameters")
    return 0


def _describe_scales(scales) -> str:
    if not scales:
        return "-"
    if "count" in scales:
        return f"{scales['count']} fp16 @+{scales['offset']}"
    return f"min {scales['min']:.4g} max {scales['max']:.4g}"


def run_show(args: argparse.Namespace) -> int:
    from .container import load_model
    from .picture import write_weights_picture

    path = _engine(args).resolve(args.model)
    loaded = load_model(path)
    if args.tensor is not None and args.tensor not in loaded.tensors:
        raise NotFoundError(f"tensor {args.tensor!r} is not in {path} (see `model info`)")
    names = [args.tensor] if args.tensor else [e["name"] for e in loaded.directory]
    width, height = write_weights_picture(Path(args.out), [(n, loaded.tensors[n]) for n in names])
    print(f"wrote {args.out} ({width}x{height} pixels, {len(names)} tensor(s))")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    result = convert(Path(args.source), Path(args.out), encoding=args.encoding, tokenizer=args.tokenizer,
                     level=args.level)
    if args.json:
        print_json(result)
    else:
        print(f"wrote {result['out']} ({result['format']}, {result['tensors']} tensors, "
              f"{result['parameters']} parameters)")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from .container import load_model, save_model
    from .engine import shipped_held_out_path
    from .evaluate import evaluate
    from .model import Transformer

    engine = _engine(args)
    path = engine.resolve(args.model)
    text_path = Path(args.text) if args.text else shipped_held_out_path()
    if not text_path.is_file():
        raise NotFoundError(f"text to evaluate {text_path}: no such file")
    data = text_path.read_bytes()
    if args.bytes is not None:
        if args.bytes < 2:
            raise InferenceError(f"--bytes must be at least 2, got {args.bytes}")
        data = data[: args.bytes]
    loaded = load_model(path)
    tensors = loaded.tensors
    if args.encoding:
        tensors = requantize(loaded.config, tensors, args.encoding)
    model = Transformer(loaded.config, tensors, where=str(path))
    source = (f"held-out excerpt of the training corpus ({loaded.info.get('corpus', {}).get('source', '?')})"
              if not args.text else str(text_path))
    result = evaluate(model, data, source).to_dict()
    result.update(model=str(path), encoding=args.encoding or "as stored")
    if args.json:
        print_json(result)
    else:
        print(f"{result['size']} bytes of {result['source']}")
        print_table(("coder", "bits/byte", "vs gzip -9"), [
            ("pixellm", f"{result['bits_per_byte']:.4f}", f"{result['ratio_to_gzip']:.3f}"),
            ("gzip -9", f"{result['gzip_bits_per_byte']:.4f}", "1.000"),
            ("xz -9", f"{result['xz_bits_per_byte']:.4f}",
             f"{result['xz_bits_per_byte'] / result['gzip_bits_per_byte']:.3f}")])
    return 0


def requantize(config, tensors, encoding: str):
    """``tensors`` as they come back after storing them with ``encoding`` (an in-memory round trip)."""
    from .container import encoding_for
    from .tensors import decode, encode

    out = {}
    for name, values in tensors.items():
        chosen = encoding_for(name, values, encoding)
        data, scales = encode(values, chosen)
        out[name] = decode(data, {"name": name, "shape": list(values.shape), "encoding": chosen, "scales": scales})
    return out


def run_inspect(args: argparse.Namespace) -> int:
    """``model inspect``: what :meth:`PixelEngine.describe_self` and ``read_own_pixels`` return, and pictures."""
    engine = _engine(args)
    report = engine.describe_self(args.model)
    pictures = write_tensor_pictures(engine, args.model, Path(args.out)) if args.out else []
    pixels = None
    if args.tensor:
        own = engine.read_own_pixels(args.tensor, args.model)
        pixels = {k: v for k, v in own.items() if k != "pixels"}
        pixels["pixels_sha256"] = hashlib.sha256(own["pixels"]).hexdigest()
    if args.json:
        print_json({**report, "pictures": pictures, **({"own_pixels": pixels} if pixels else {})})
        return 0
    print(f"{report['path']}")
    print(f"payload sha256 {report['sha256']} (recomputed: matches), file sha256 {report['file_sha256']}")
    print(f"image {report['image']['width']}x{report['image']['height']} pixels, {report['parameters']} parameters, "
          f"{report['config']['architecture']}, tokenizer {report['tokenizer']['kind']}")
    rows = []
    for entry in report["tensors"]:
        st = entry["stats"]
        rows.append((entry["name"], "x".join(map(str, entry["shape"])), entry["encoding"], f"{st['mean']:+.4f}",
                     f"{st['std']:.4f}", f"{st['min']:+.4f}", f"{st['max']:+.4f}", f"{st['zero_fraction']:.3f}"))
    print_table(("tensor", "shape", "encoding", "mean", "std", "min", "max", "zeros"), rows)
    if pixels:
        print(f"{pixels['tensor']}: payload bytes {pixels['offset']}..{pixels['offset'] + pixels['length']} = pixels "
              f"{tuple(pixels['first_pixel'])} to {tuple(pixels['last_pixel'])} of the {pixels['image_width']}-wide "
              f"image (sha256 of those pixels {pixels['pixels_sha256'][:16]}...)")
    if pictures:
        print(f"wrote {len(pictures)} pictures to {args.out}")
    return 0


def write_tensor_pictures(engine, model, directory: Path) -> list[str]:
    """One PNG per tensor of ``model`` in ``directory``; returns their paths."""
    from .picture import write_weights_picture

    opened = engine.load(model).file
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for index, entry in enumerate(opened.tensors):
        path = directory / f"{index:03d}-{entry.name}.png"
        write_weights_picture(path, [(entry.name, opened.array(entry.name))])
        written.append(str(path))
    return written


def run_chat(args: argparse.Namespace) -> int:
    """``model chat``: the model's own chat template, one message or a conversation read line by line."""
    from pxos_kernel.interfaces import GenerationRequest

    engine = _engine(args)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    engine.chat_prompt(args.model, messages + [{"role": "user", "content": "?"}])  # no template: one clear error now
    interactive = args.message is None and sys.stdin.isatty()

    def answer(text: str) -> None:
        messages.append({"role": "user", "content": text})
        request = GenerationRequest("", model=args.model, max_tokens=args.max_tokens, temperature=args.temperature,
                                    top_k=args.top_k, top_p=args.top_p, seed=args.seed, stop=tuple(args.stop))
        reply = []
        for chunk in engine.chat(request, messages):
            sys.stdout.write(chunk.text)
            sys.stdout.flush()
            reply.append(chunk.text)
        sys.stdout.write("\n")
        messages.append({"role": "assistant", "content": "".join(reply)})

    if args.message is not None:
        answer(args.message)
        return 0
    while True:
        if interactive:
            sys.stdout.write("> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            return 0
        if line.strip():
            answer(line.rstrip("\n"))
