"""Train the shipped default model on the standard library corpus (needs the ``train`` extra: torch).

Run it from anywhere::

    python -m pxos_pixellm.train --out /tmp/pixellm-run

It writes ``checkpoint.pt`` (torch state dict with Hugging Face Llama names,
plus the config) every ``--save-every`` steps, a ``train.log`` line per
logging step, and at the end ``default.pxi`` (the pixel model container,
fp16) with ``heldout.txt`` and ``training.json`` (the file lists, the
hyper-parameters and the loss curve), ready to copy into ``pxos_pixellm/data``.

Everything is seeded; with the same interpreter's stdlib, the same torch and
the same thread count the run is repeatable. The architecture is exactly
Hugging Face's ``LlamaForCausalLM`` (the numpy engine and the converter share
the parameter names), written out here so training needs only torch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from .config import ModelConfig
from .corpus import EXCLUDED_DIRS, HELD_OUT_MODULUS, describe_python, held_out_excerpt, stdlib_split

HELD_OUT_EXCERPT_BYTES = 65536


def build_torch_model(config: ModelConfig):
    """A torch ``nn.Module`` computing the same function as :class:`pxos_pixellm.model.Transformer`."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class RMSNorm(nn.Module):
        def __init__(self, dim: int, eps: float):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))
            self.eps = eps

        def forward(self, x):
            variance = x.float().pow(2).mean(-1, keepdim=True)
            return self.weight * (x * torch.rsqrt(variance + self.eps))

    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            d, hd = config.hidden_size, config.attention_head_dim
            self.q_proj = nn.Linear(d, config.num_attention_heads * hd, bias=config.qkv_bias)
            self.k_proj = nn.Linear(d, config.num_key_value_heads * hd, bias=config.qkv_bias)
            self.v_proj = nn.Linear(d, config.num_key_value_heads * hd, bias=config.qkv_bias)
            self.o_proj = nn.Linear(config.num_attention_heads * hd, d, bias=config.o_proj_bias)

        def forward(self, x, cos, sin):
            b, t, _ = x.shape
            hd = config.attention_head_dim
            q = self.q_proj(x).view(b, t, config.num_attention_heads, hd).transpose(1, 2)
            k = self.k_proj(x).view(b, t, config.num_key_value_heads, hd).transpose(1, 2)
            v = self.v_proj(x).view(b, t, config.num_key_value_heads, hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            gqa = config.num_key_value_heads != config.num_attention_heads
            if config.sliding_window is None:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
            else:  # each position sees itself and the window - 1 before it
                rows = torch.arange(t)[:, None]
                cols = torch.arange(t)[None, :]
                visible = (cols <= rows) & (cols > rows - config.sliding_window)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible, enable_gqa=gqa)
            return self.o_proj(y.transpose(1, 2).reshape(b, t, -1))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            d, f = config.hidden_size, config.intermediate_size
            self.gate_proj = nn.Linear(d, f, bias=False)
            self.up_proj = nn.Linear(d, f, bias=False)
            self.down_proj = nn.Linear(f, d, bias=False)

        def forward(self, x):
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
            self.self_attn = Attention()
            self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
            self.mlp = MLP()

        def forward(self, x, cos, sin):
            x = x + self.self_attn(self.input_layernorm(x), cos, sin)
            return x + self.mlp(self.post_attention_layernorm(x))

    class Body(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
            self.layers = nn.ModuleList(Layer() for _ in range(config.num_hidden_layers))
            self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    class CausalLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Body()
            if not config.tie_word_embeddings:
                self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
            from .model import rope_frequencies

            inv_freq = torch.from_numpy(rope_frequencies(config)).float()
            angles = torch.outer(torch.arange(config.max_position_embeddings, dtype=torch.float32), inv_freq)
            angles = torch.cat((angles, angles), dim=-1)
            self.register_buffer("cos", angles.cos(), persistent=False)
            self.register_buffer("sin", angles.sin(), persistent=False)

        def forward(self, ids):
            t = ids.shape[1]
            x = self.model.embed_tokens(ids)
            cos, sin = self.cos[:t], self.sin[:t]
            for layer in self.model.layers:
                x = layer(x, cos, sin)
            x = self.model.norm(x)
            head = self.model.embed_tokens.weight if config.tie_word_embeddings else self.lm_head.weight
            return x @ head.T

    return CausalLM()


def init_weights(model, config: ModelConfig, seed: int) -> None:
    """GPT-2 style initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 * layers)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                param.fill_(1.0)
                continue
            std = 0.02
            if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                std /= math.sqrt(2 * config.num_hidden_layers)
            param.copy_(torch.randn(param.shape, generator=generator) * std)


def learning_rate(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def evaluate_bits_per_byte(model, data, context: int, max_windows: int = 32) -> float:
    """Mean bits per byte of ``model`` over non-overlapping windows of ``data`` (a uint8 tensor)."""
    import torch
    from torch.nn import functional as F

    windows = min(max_windows, (len(data) - 1) // context)
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(windows):
            chunk = data[i * context: i * context + context + 1].long()
            logits = model(chunk[None, :-1])
            total += F.cross_entropy(logits[0], chunk[1:], reduction="sum").item()
    model.train()
    return total / (windows * context) / math.log(2)


def previous_phase(checkpoint: Path) -> dict[str, Any]:
    """What is known of the run a resumed run started from: its record, or the eval lines of its log."""
    import torch

    run = checkpoint.parent
    step = torch.load(checkpoint, map_location="cpu", weights_only=True).get("step")
    if (run / "training.json").exists():
        record = json.loads((run / "training.json").read_text())
        return {"step": step, "hyperparameters": record.get("hyperparameters"), "curve": record.get("curve"),
                "resumed_from": record.get("resumed_from")}
    curve = []
    log = run / "train.log"
    for line in (log.read_text().splitlines() if log.exists() else []):
        words = line.split()
        if line.startswith("eval step") and int(words[2]) <= (step or 0):
            curve.append({"step": int(words[2]), "held_out_bpb": float(words[-1])})
    return {"step": step, "log": str(log), "curve": curve}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pxos_pixellm.train", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="run directory (created)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--intermediate", type=int, default=704)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--fp32", action="store_true",
                        help="full fp32 matmuls (default: bf16 autocast, about 2x faster on CPUs with avx512_bf16)")
    parser.add_argument("--stop-at", type=int, default=None,
                        help="stop after this step (the schedule still spans --steps); for phased runs")
    parser.add_argument("--resume", type=Path, default=None,
                        help="start from this checkpoint.pt's weights (fresh optimizer, warm-up again)")
    parser.add_argument("--untied", action="store_true", help="separate output head instead of tied embeddings")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch
    from torch.nn import functional as F

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    log = open(args.out / "train.log", "a", buffering=1)

    def say(message: str) -> None:
        print(message, file=log)
        print(message, file=sys.stderr)

    split = stdlib_split()
    train = torch.from_numpy(np.frombuffer(split.read(split.train), dtype=np.uint8).copy())
    held_out = held_out_excerpt(split, HELD_OUT_EXCERPT_BYTES)
    held_out_tensor = torch.from_numpy(np.frombuffer(held_out, dtype=np.uint8).copy())
    (args.out / "heldout.txt").write_bytes(held_out)
    config = ModelConfig(
        vocab_size=256, hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.heads,
        max_position_embeddings=args.context, tie_word_embeddings=not args.untied, tokenizer="bytes",
    )
    model = build_torch_model(config)
    init_weights(model, config, args.seed)
    if args.resume:
        checkpoint = torch.load(args.resume, map_location="cpu", weights_only=True)
        if ModelConfig.from_dict(checkpoint["config"]) != config:
            raise SystemExit(f"{args.resume}: its config differs from the one these arguments describe")
        model.load_state_dict(checkpoint["state_dict"])
        say(f"resumed from {args.resume} (step {checkpoint.get('step')})")
    n_params = sum(p.numel() for p in model.parameters())
    say(f"corpus {describe_python()}: train {len(train)} bytes in {len(split.train)} files, "
        f"held-out excerpt {len(held_out)} bytes; model {n_params} parameters")

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(args.seed)
    offsets = torch.arange(args.context + 1)
    curve: list[dict[str, Any]] = []
    start = time.monotonic()
    last = min(args.steps, args.stop_at or args.steps)
    for step in range(last):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
        starts = torch.randint(0, len(train) - args.context - 1, (args.batch,), generator=generator)
        batch = train[starts[:, None] + offsets].long()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32):
            logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, config.vocab_size), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        done = step + 1
        if done % args.log_every == 0 or done == 1:
            elapsed = time.monotonic() - start
            say(f"step {done}/{args.steps} loss {loss.item():.4f} bpb {loss.item() / math.log(2):.3f} "
                f"lr {optimizer.param_groups[0]['lr']:.2e} elapsed {elapsed:.0f}s")
        if done % args.eval_every == 0 or done == last:
            bpb = evaluate_bits_per_byte(model, held_out_tensor, args.context)
            curve.append({"step": done, "train_loss": round(loss.item(), 4), "held_out_bpb": round(bpb, 4),
                          "elapsed_s": round(time.monotonic() - start)})
            say(f"eval step {done} held-out bpb {bpb:.4f}")
        if done % args.save_every == 0 or done == last:
            torch.save({"config": config.to_dict(), "state_dict": model.state_dict(), "step": done},
                       args.out / "checkpoint.pt.tmp")
            (args.out / "checkpoint.pt.tmp").replace(args.out / "checkpoint.pt")
    record = {
        "corpus": {"source": describe_python(), "excluded_dirs": sorted(EXCLUDED_DIRS),
                   "split_rule": f"held out iff sha256(relative path)[0] % {HELD_OUT_MODULUS} == 0",
                   "train_files": list(split.train), "held_out_files": list(split.held_out),
                   "train_bytes": len(train), "held_out_excerpt_bytes": len(held_out)},
        "hyperparameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "parameters": n_params, "torch": torch.__version__, "curve": curve,
        "resumed_from": previous_phase(args.resume) if args.resume else None,
        "wall_clock_s": round(time.monotonic() - start),
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    say(f"done in {record['wall_clock_s']}s; convert with: python -m pxos_pixellm.train_export {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
