"""Actions of the ``model ...`` commands."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from pxos_kernel import InferenceError, NotFoundError, UsageError, print_json, print_table


def _engine(args: argparse.Namespace):
    """The engine ``--engine`` names (pixellm by default) with the kernel's settings, ``--offload`` applied.

    Without a kernel (``run pixellm`` builds none for the default engine) it is
    a bare pixellm engine.
    """
    name = getattr(args, "engine", None) or "pixellm"
    offload = getattr(args, "offload", None)
    if offload is not None and name == "pixellm":
        raise UsageError("--offload chooses the layers a GPU engine runs (e.g. --engine pixellm-gpu); "
                         "pixellm runs every layer on the CPU")
    kernel = getattr(args, "kernel", None)
    if kernel is not None:
        return kernel.engine(name, **({"offload": offload} if offload is not None else {}))
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
    """Generate with the sampling flags in ``args`` and print as the text arrives.

    With ``--json`` nothing streams: one object is printed at the end, with the
    text, the token counts, why generation ended and how long it took.
    """
    import time

    from .generation import generate, prompt_ids

    # Any engine serving pixellm's models has transformer() and tokenizer(): the GPU engine's transformer
    # computes its logits on the GPU, and this same loop samples from them.
    transformer, tokenizer = engine.transformer(args.model), engine.tokenizer(args.model)
    as_json = getattr(args, "json", False)
    started = time.perf_counter()
    pieces = []
    for piece in generate(transformer, prompt, tokenizer=tokenizer, max_tokens=args.max_tokens,
                          temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                          stop=args.stop):
        pieces.append(piece)
        if not as_json:
            sys.stdout.write(piece.text)
            sys.stdout.flush()
    seconds = time.perf_counter() - started
    if not as_json:
        sys.stdout.write("\n")
        return 0
    tokens = sum(piece.tokens for piece in pieces)
    context = transformer.config.max_position_embeddings
    print_json({"model": str(engine.resolve(args.model)), "engine": getattr(args, "engine", None) or "pixellm",
                "text": "".join(piece.text for piece in pieces), "tokens": tokens,
                "prompt_tokens": min(len(prompt_ids(tokenizer, prompt)), context - 1),
                "finish_reason": pieces[-1].finish_reason, "seconds": round(seconds, 4),
                "tokens_per_second": round(tokens / seconds, 2) if seconds > 0 else None,
                "sampling": {"max_tokens": args.max_tokens, "temperature": args.temperature, "top_k": args.top_k,
                             "top_p": args.top_p, "seed": args.seed, "stop": list(args.stop)}})
    return 0


def run_generate(args: argparse.Namespace) -> int:
    return stream_generation(_engine(args), read_prompt(args.prompt), args)


def run_info(args: argparse.Namespace) -> int:
    from .config import ModelConfig
    from .container import check_directory, load_model_meta

    engine = _engine(args)
    path = engine.resolve(args.model)
    meta = load_model_meta(path)
    # what is printed is validated as loading validates it, so a damaged container is one line, not a traceback
    ModelConfig.from_dict(meta.get("config"), str(path))
    entries = check_directory(meta.get("tensors"), meta["length"], str(path))
    # An engine that reports where it computes (the GPU engine: its adapter and limits) says so here.
    described = engine.describe() if args.engine != "pixellm" and hasattr(engine, "describe") else None
    if args.json:
        print_json({"path": str(path), **{k: meta[k] for k in ("config", "tensors", "info", "length", "sha256")
                                          if k in meta}, **({"engine": described} if described else {})})
        return 0
    config = meta["config"]
    if described:
        for line in described.get("summary", [f"engine {args.engine}"]):
            print(line)
    print(f"{path}  ({meta['length']} payload bytes, sha256 {meta['sha256'][:16]}...)")
    print(" ".join(f"{k}={v}" for k, v in config.items()))
    count = 0
    rows = []
    for entry in entries:
        count += entry.count
        rows.append((entry.name, "x".join(map(str, entry.shape)), entry.dtype, entry.encoding,
                     entry.offset, entry.length, _describe_scales(entry.scales)))
    print_table(("tensor", "shape", "dtype", "encoding", "offset", "length", "scales"), rows)
    print(f"{len(rows)} tensors, {count} parameters")
    return 0


def _describe_scales(scales) -> str:
    if not scales:
        return "-"
    if "count" in scales:
        return f"{scales['count']} fp16 @+{scales['offset']}"
    return f"min {scales['min']:.4g} max {scales['max']:.4g}"


def run_picture(args: argparse.Namespace) -> int:
    from .container import load_model
    from .picture import write_weights_picture

    path = _engine(args).resolve(args.model)
    loaded = load_model(path)
    if args.tensor is not None and args.tensor not in loaded.tensors:
        raise NotFoundError(f"tensor {args.tensor!r} is not in {path} (see `model info`)")
    names = [args.tensor] if args.tensor else [e["name"] for e in loaded.directory]
    width, height = write_weights_picture(Path(args.out), [(n, loaded.tensors[n]) for n in names])
    if args.json:
        print_json({"model": str(path), "path": args.out, "width": width, "height": height, "tensors": names})
    else:
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
    from .container import open_model
    from .engine import shipped_held_out_path
    from .evaluate import evaluate
    from .model import Transformer, build_transformer

    engine = _engine(args)
    path = engine.resolve(args.model)
    text_path = Path(args.text) if args.text else shipped_held_out_path()
    if not text_path.is_file():
        raise NotFoundError(f"text to evaluate {text_path}: no such file")
    data = text_path.read_bytes()
    if args.bytes is not None:
        if args.bytes < 2:
            raise UsageError(f"--bytes must be at least 2, got {args.bytes}")
        data = data[: args.bytes]
    opened = open_model(path)
    if args.encoding:  # an in-memory round trip through that encoding, computed by the numpy reference
        model = Transformer(opened.config, requantize(opened.config, dict(opened.arrays()), args.encoding),
                            where=str(path))
    else:
        model = build_transformer(opened, engine.compute, where=str(path))
    source = (f"held-out excerpt of the training corpus ({opened.info.get('corpus', {}).get('source', '?')})"
              if not args.text else str(text_path))
    result = evaluate(model, data, source, opened.tokenizer()).to_dict()
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
    from pxos_kernel import GenerationRequest

    engine = _engine(args)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    engine.chat_prompt(args.model, messages + [{"role": "user", "content": "?"}])  # no template: one clear error now
    interactive = args.message is None and sys.stdin.isatty() and not args.json
    replies: list[dict] = []  # per answer: tokens and finish reason (for --json)

    def answer(text: str) -> None:
        messages.append({"role": "user", "content": text})
        request = GenerationRequest("", model=args.model, max_tokens=args.max_tokens, temperature=args.temperature,
                                    top_k=args.top_k, top_p=args.top_p, seed=args.seed, stop=tuple(args.stop))
        reply, tokens, finish_reason = [], 0, None
        for chunk in engine.chat(request, messages):
            if not args.json:
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
            reply.append(chunk.text)
            tokens, finish_reason = tokens + chunk.tokens, chunk.finish_reason or finish_reason
        if not args.json:
            sys.stdout.write("\n")
        messages.append({"role": "assistant", "content": "".join(reply)})
        replies.append({"tokens": tokens, "finish_reason": finish_reason})

    if args.message is not None:
        answer(args.message)
    else:
        while True:
            if interactive:
                sys.stdout.write("> ")
                sys.stdout.flush()
            line = sys.stdin.readline()
            if not line:
                break
            if line.strip():
                answer(line.rstrip("\n"))
    if args.json:
        print_json({"model": str(engine.resolve(args.model)), "engine": args.engine, "messages": messages,
                    "replies": replies})
    return 0


# -- model cartridges ----------------------------------------------------------------------------


def _registry(args: argparse.Namespace):
    """The registry of the kernel's pixellm engine, writing each step to the kernel's ledger."""
    from .registry import ModelRegistry

    engine = _engine(args)
    if engine.root is None:
        raise InferenceError("the model registry needs the kernel's pixellm engine (a PXOS_HOME)")
    return ModelRegistry(engine.root, getattr(args, "kernel", None))


def _version_row(record: dict) -> tuple:
    evaluation = record.get("eval") or {}
    return (f"{record['name']}@{record['version']}", record["status"], record["method"], record["parent"] or "-",
            f"{evaluation.get('bits_per_byte', float('nan')):.4f}", "ok" if record["smoke"]["passed"] else "FAILED",
            record["tokenizer"]["kind"], record["created"][:19])


VERSION_HEADERS = ("version", "status", "method", "parent", "bits/byte", "smoke", "tokenizer", "created")


def run_register(args: argparse.Namespace) -> int:
    from .registry import current_user

    record = _registry(args).register(
        _engine(args).resolve(args.container), args.name, version=args.version, parent=args.parent, method=args.method,
        made_by={"kind": args.maker_kind, "who": args.made_by or current_user()},
        training_data=Path(args.training_data) if args.training_data else None,
        eval_text=Path(args.eval_text) if args.eval_text else None, eval_name=args.eval_name, notes=args.notes)
    if args.json:
        print_json(record)
    else:
        print(f"registered {record['name']}@{record['version']} ({record['status']}): "
              f"{record['eval']['bits_per_byte']:.4f} bits/byte on {record['eval']['text_name']}, smoke test "
              f"{'passed' if record['smoke']['passed'] else 'FAILED'}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    records = _registry(args).list(args.name)
    if args.json:
        print_json(records)
    else:
        print_table(VERSION_HEADERS, [_version_row(r) for r in records])
    return 0


def run_show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    record = registry.get(args.ref)
    history = [h for h in registry.history(record["name"]) if h["version"] == record["version"]]
    if args.json:
        print_json({**record, "history": history})
        return 0
    for key in ("name", "version", "status", "parent", "generation", "method", "created", "sha256", "architecture",
                "parameters", "notes"):
        print(f"{key:14} {record[key]}")
    print(f"{'made by':14} {record['made_by']['kind']}:{record['made_by']['who']}")
    data = record.get("training_data")
    print(f"{'training data':14} {data['sha256'] + ' (' + str(data['bytes']) + ' bytes)' if data else '-'}")
    evaluation = record["eval"]
    print(f"{'eval':14} {evaluation['bits_per_byte']:.4f} bits/byte on {evaluation['text_name']} "
          f"({evaluation['bytes']} bytes, sha256 {evaluation['text'][:16]}...)")
    print(f"{'smoke test':14} {'passed' if record['smoke']['passed'] else 'FAILED'}: {record['smoke']['detail']}")
    print(f"{'tokenizer':14} " + ", ".join(f"{k}={v}" for k, v in record["tokenizer"].items()))
    print_table(("at", "action", "outcome", "detail"), [(h["at"][:19], h["action"], h["outcome"], h["detail"])
                                                        for h in history])
    return 0


def run_promote(args: argparse.Namespace) -> int:
    record = _registry(args).promote(args.ref, approved_by=args.approved_by, reason=args.reason,
                                     approver_kind=args.approver_kind, tolerance=args.tolerance)
    print_json(record) if args.json else print(f"{record['name']}@{record['version']} is now current")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    record = _registry(args).rollback(args.name, args.to, approved_by=args.approved_by, reason=args.reason,
                                      approver_kind=args.approver_kind)
    print_json(record) if args.json else print(f"{record['name']}@{record['version']} is current again")
    return 0


def run_lineage(args: argparse.Namespace) -> int:
    chain = _registry(args).lineage(args.ref)
    if args.json:
        print_json(chain)
    else:
        print_table(VERSION_HEADERS, [_version_row(r) for r in chain])
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    """``model finetune``: a new experimental version from the current one, every step in the ledger."""
    import tempfile

    from .finetune import FinetuneOptions, finetune, read_training_text
    from .registry import split_ref

    registry = _registry(args)
    parent = registry.get(args.name)
    data = Path(args.data)
    read_training_text(data)  # an empty or non-UTF-8 file is refused before anything starts
    kernel = getattr(args, "kernel", None)
    ref = f"{parent['name']}@{parent['version']}"
    options = FinetuneOptions(steps=args.steps, lr=args.lr, batch=args.batch, context=args.context, seed=args.seed,
                              threads=args.threads)
    if kernel is not None:
        kernel.checkpoint("MODEL", "finetune", {"parent": ref, "data": str(data), "options": options.__dict__,
                                                "outcome": "started"},
                          corridor="DISTRICT_9.CHAMBER_MODEL.NODE_FINETUNE", agent="pxos-pixellm")
    with tempfile.TemporaryDirectory(prefix="pxos-finetune-") as tmp:
        out = Path(tmp) / "model.pxi"
        run = finetune(registry.verified_path(parent), data, out, options)
        record = registry.register(out, split_ref(args.name)[0], version=args.version, parent=ref,
                                   method="fine-tune", made_by={"kind": "program", "who": "pxos-kernel model finetune"},
                                   training_data=data, notes=f"fine-tuned from {ref}", extra={"finetune": run})
    if args.json:
        print_json(record)
        return 0
    child, mother = record["eval"]["bits_per_byte"], parent["eval"]["bits_per_byte"]
    print(f"{record['name']}@{record['version']} (experimental): {child:.4f} bits/byte on "
          f"{record['eval']['text_name']}, parent {ref} {mother:.4f} ({(child / mother - 1):+.2%}); smoke test "
          f"{'passed' if record['smoke']['passed'] else 'FAILED'}; loss {run['curve'][0]['loss']} -> "
          f"{run['curve'][-1]['loss']}")
    print(f"to make it current: pxos-kernel model promote {record['name']}@{record['version']} "
          "--approved-by NAME --reason TEXT")
    return 0
