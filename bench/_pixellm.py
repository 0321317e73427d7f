"""Shared by the pixellm benchmarks: the greedy decoding loop every engine is timed on."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class Decoded:
    """One greedy run: the new token ids, and the seconds spent on the prompt and on the new tokens."""

    tokens: list[int]
    prefill_seconds: float
    decode_seconds: float


def greedy(model: Any, prompt: Sequence[int], tokens: int) -> Decoded:
    """Prefill ``prompt``, then decode ``tokens`` greedily one a step with a KV cache.

    ``model`` is anything pixellm's generation loop drives (config, new_cache,
    forward(ids, cache, last_only=True)): pixellm's transformer, the GPU engine's.
    """
    import numpy as np

    started = time.perf_counter()
    cache = model.new_cache()
    logits = model.forward(list(prompt), cache, last_only=True)[-1]
    prefilled = time.perf_counter()
    out = []
    for _ in range(tokens):
        token = int(np.argmax(logits))
        out.append(token)
        logits = model.forward([token], cache, last_only=True)[-1]
    return Decoded(out, prefilled - started, time.perf_counter() - prefilled)


def rounds(candidates: dict[str, Callable[[], Decoded]], count: int) -> dict[str, list[Decoded]]:
    """Run each candidate ``count`` times (after one warm-up), alternating so that load hits all alike."""
    for run in candidates.values():
        run()
    results: dict[str, list[Decoded]] = {name: [] for name in candidates}
    for _ in range(count):
        for name, run in candidates.items():
            results[name].append(run())
    return results


def decode_rate(runs: list[Decoded]) -> float:
    """Median new tokens a second (the prompt not counted)."""
    return statistics.median(len(r.tokens) / r.decode_seconds for r in runs)


def prefill_rate(runs: list[Decoded], prompt_tokens: int) -> float:
    return statistics.median(prompt_tokens / r.prefill_seconds for r in runs)
