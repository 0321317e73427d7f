"""Choosing the next token from logits: temperature, top-k, top-p (nucleus), seeded."""

from __future__ import annotations

from typing import Optional

import numpy as np

from pxos_kernel import InferenceError


def check_sampling(temperature: float, top_k: Optional[int], top_p: Optional[float]) -> None:
    """Raise InferenceError naming the first knob out of range."""
    if not temperature >= 0:
        raise InferenceError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise InferenceError(f"top-k must be >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise InferenceError(f"top-p must be in (0, 1], got {top_p}")


def sample(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
           top_k: Optional[int] = None, top_p: Optional[float] = None,
           allowed: Optional[int] = None) -> int:
    """Pick one token id from 1-D ``logits``.

    ``temperature == 0`` is greedy (argmax). Otherwise logits are divided by
    the temperature, cut to the ``top_k`` most likely tokens, then to the
    smallest set whose probability reaches ``top_p``, and sampled with ``rng``.
    ``allowed`` restricts the choice to ids below it (a byte model never
    emits ids it cannot decode).
    """
    logits = np.asarray(logits, dtype=np.float64)
    if allowed is not None:
        logits = logits[:allowed]
    if temperature == 0:
        return int(np.argmax(logits))
    order = np.argsort(-logits, kind="stable")
    if top_k is not None:
        order = order[:top_k]
    scaled = logits[order] / temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    if top_p is not None and top_p < 1:
        # Keep tokens until the cumulative probability reaches top_p (always at least one).
        keep = int(np.searchsorted(np.cumsum(probs), top_p) + 1)
        order, probs = order[:keep], probs[:keep] / probs[:keep].sum()
    return int(order[rng.choice(len(order), p=probs)])
