"""Fine-tuning a stored model on a text file (needs torch: the ``train`` extra).

``finetune(source, data, out)`` reads the model container ``source``, trains
its weights with the training script's own torch module
(:func:`pxos_pixellm.train.build_torch_model`, the same function as the numpy
engine) on random windows of ``data`` tokenized with the model's own
tokenizer, and writes a new container with the same config, tokenizer and
per-tensor encodings. ``model finetune`` registers the result as an
experimental version whose parent is the version it started from; only
``model promote`` (which checks it against that parent) can make it current.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pxos_kernel import FormatError, InferenceError, progress


@dataclass(frozen=True)
class FinetuneOptions:
    steps: int = 60
    lr: float = 3e-4
    batch: int = 8
    context: int = 0  # 0: the model's own context
    seed: int = 0
    threads: int = 1


def read_training_text(path: Path) -> str:
    """The training data as text; FormatError (one line) for a missing, empty or non-UTF-8 file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"training data {path}: no such file") from None
    except OSError as exc:
        raise FormatError(f"training data {path}: cannot read it ({exc.strerror})") from None
    if not data.strip():
        raise FormatError(f"training data {path} is empty: give a text file to fine-tune on")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"training data {path} is not UTF-8 text (byte {exc.start}: "
                          f"{data[exc.start:exc.start + 1]!r})") from None


def finetune(source: Path, data: Path, out: Path, options: FinetuneOptions = FinetuneOptions()) -> dict:
    """Train ``source`` on ``data`` and write the result to ``out``; return the run's record."""
    text = read_training_text(data)
    try:
        import torch
        from torch.nn import functional as F
    except ImportError:
        raise InferenceError("fine-tuning needs torch: pip install 'pxos-pixellm[train]'") from None
    from .container import open_model, save_model
    from .train import build_torch_model

    if options.steps < 1 or options.batch < 1 or not options.lr > 0:
        raise InferenceError("fine-tuning needs --steps >= 1, --batch >= 1 and --lr > 0")
    opened = open_model(source)
    tokenizer = opened.tokenizer()
    if tokenizer is None:
        raise InferenceError(f"{source}: a model without a tokenizer cannot be fine-tuned on text")
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) < 2:
        raise FormatError(f"training data {data} is a single token: give a longer text")
    config = opened.config
    context = min(options.context or config.max_position_embeddings, config.max_position_embeddings, len(ids) - 1)
    torch.manual_seed(options.seed)
    torch.set_num_threads(options.threads)
    model = build_torch_model(config)
    model.load_state_dict({name: torch.from_numpy(values.copy()) for name, values in opened.arrays()}, strict=True)
    model.train()
    tokens = torch.tensor(ids, dtype=torch.long)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(options.seed)
    offsets = torch.arange(context + 1)
    curve = []
    steps = progress(range(options.steps), description="model finetune", unit="step")
    for step in steps:
        starts = torch.randint(0, len(ids) - context, (options.batch,), generator=generator)
        batch = tokens[starts[:, None] + offsets]
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, config.vocab_size), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step == 0 or (step + 1) % 10 == 0 or step + 1 == options.steps:
            curve.append({"step": step + 1, "loss": round(float(loss.item()), 4)})
            steps.note(f"loss {curve[-1]['loss']}")
        if not math.isfinite(loss.item()):
            raise InferenceError(f"fine-tuning diverged at step {step + 1} (loss {loss.item()}): lower --lr")
    tensors = {name: value.detach().float().numpy() for name, value in model.state_dict().items()
               if name in {e.name for e in opened.tensors}}
    record = {
        "source": "fine-tune", "parent_sha256": opened.sha256, "training_data": str(data),
        "training_data_sha256": hashlib.sha256(data.read_bytes()).hexdigest(), "tokens": len(ids),
        "hyperparameters": {**options.__dict__, "context": context}, "curve": curve, "torch": torch.__version__,
    }
    encodings = {e.name: e.encoding for e in opened.tensors}
    stored = encodings.get("model.layers.0.mlp.up_proj.weight", "fp32")
    save_model(out, config, tensors, encoding=stored, dtypes={e.name: e.dtype for e in opened.tensors},
               tokenizer=(opened.tokenizer_section, opened.tokenizer_json()),
               info={**_parent_info(opened.info), "finetune": record})
    return record


def _parent_info(info: Any) -> dict:
    """What the parent's provenance keeps in the child: its source, nothing run-specific."""
    return {"fine_tuned_from": {k: v for k, v in dict(info or {}).items() if k in ("source", "converted_from")}}
