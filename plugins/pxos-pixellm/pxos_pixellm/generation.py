"""Text generation: prompt handling, the decoding loop, end-of-sequence and stop strings, streaming.

The prompt is encoded with the model's own tokenizer (bytes for the shipped
model, the stored ``tokenizer.json`` for imported ones); it must be valid
UTF-8 text, not empty, and encodable. A prompt longer than the model's
context keeps only its last ``context - 1`` tokens (truncated from the left,
so the model sees the text right before the completion) and leaves room for
at least one new token; when the context fills up during generation, the
window slides: the cache is rebuilt from the most recent half-context of
tokens, so generation can go on past the context.

Generation ends at ``max_tokens``, at one of the tokenizer's end-of-sequence
tokens, or before a stop string. Output is streamed as soon as tokens form
complete characters, and held back while it could still be the start of a
stop string, so a stop string never leaks out half-printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from pxos_kernel import InferenceError

from .sampling import check_sampling, sample


@dataclass(frozen=True)
class Piece:
    """A streamed piece of output: its text, how many tokens it took, why it ended (last piece)."""

    text: str
    tokens: int
    finish_reason: Optional[str] = None


def prompt_ids(tokenizer: Any, prompt: "str | bytes", *, add_special_tokens: bool = True) -> list[int]:
    """The prompt's token ids; InferenceError for a model without tokenizer, an empty or unencodable prompt."""
    if tokenizer is None:
        raise InferenceError("this model has no tokenizer (imported without one): its logits can be computed "
                             "from token ids, but it cannot read or write text")
    if not prompt:
        raise InferenceError("prompt is empty: give at least one character to continue")
    ids = tokenizer.encode(prompt, add_special_tokens=add_special_tokens)
    if not ids:
        raise InferenceError("prompt is empty after tokenization: give at least one character to continue")
    return ids


def token_ids(model: Any, ids: Sequence[int], *, max_tokens: int, temperature: float = 1.0,
              top_k: Optional[int] = None, top_p: Optional[float] = None, seed: Optional[int] = None,
              allowed: Optional[int] = None, eos: Sequence[int] = ()) -> Iterator[int]:
    """The new token ids after ``ids``, one at a time; ends after ``max_tokens`` or an ``eos`` id (yielded)."""
    if max_tokens < 1:
        raise InferenceError(f"max tokens must be >= 1, got {max_tokens}")
    check_sampling(temperature, top_k, top_p)
    context = model.config.max_position_embeddings
    history = list(ids)[-(context - 1):]
    rng = np.random.default_rng(seed)
    cache = model.new_cache()
    logits = model.forward(history, cache, last_only=True)[-1]
    stops = set(int(i) for i in eos)
    for produced in range(1, max_tokens + 1):
        token = sample(logits, rng, temperature, top_k, top_p, allowed=allowed)
        yield token
        if token in stops or produced == max_tokens:
            return
        history.append(token)
        if cache.length >= context:
            history = history[-(context // 2):]
            cache = model.new_cache()
            logits = model.forward(history, cache, last_only=True)[-1]
        else:
            logits = model.forward([token], cache, last_only=True)[-1]


def generate(model: Any, prompt: "str | bytes", *, tokenizer: Any = None, max_tokens: int = 128,
             temperature: float = 1.0, top_k: Optional[int] = None, top_p: Optional[float] = None,
             seed: Optional[int] = None, stop: Sequence[str] = (), add_special_tokens: bool = True) -> Iterator[Piece]:
    """Stream the continuation of ``prompt``; the last piece has ``finish_reason`` "stop" or "length".

    ``tokenizer`` defaults to the byte tokenizer for byte-level models.
    ``add_special_tokens=False`` is for prompts that already carry them (a
    rendered chat template).
    """
    if tokenizer is None and model.config.tokenizer == "bytes":
        from .tokenizer import ByteTokenizer

        tokenizer = ByteTokenizer()
    ids = prompt_ids(tokenizer, prompt, add_special_tokens=add_special_tokens)
    if max_tokens < 1:
        raise InferenceError(f"max tokens must be >= 1, got {max_tokens}")
    check_sampling(temperature, top_k, top_p)
    stops = [s for s in stop if s]
    eos = set(tokenizer.eos_token_ids)
    stream = tokenizer.stream()
    pending = ""  # decoded text not yet streamed (possible start of a stop string)
    pending_tokens = produced = 0
    allowed = min(tokenizer.vocab_size, model.config.vocab_size)
    for token in token_ids(model, ids, max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                           seed=seed, allowed=allowed, eos=tuple(eos)):
        produced += 1
        pending_tokens += 1
        if token in eos:
            yield Piece(pending + stream.flush(), pending_tokens, "stop")
            return
        pending += stream.push(token)
        hit = _find_stop(pending, stops)
        if hit is not None:
            yield Piece(pending[:hit], pending_tokens, "stop")
            return
        if produced >= max_tokens:
            yield Piece(pending + stream.flush(), pending_tokens, "length")
            return
        safe = len(pending) - _longest_stop_prefix(pending, stops)
        if safe > 0:
            yield Piece(pending[:safe], pending_tokens)
            pending, pending_tokens = pending[safe:], 0


def _find_stop(text: str, stops: Sequence[str]) -> Optional[int]:
    """Where the earliest stop string starts in ``text``, or None."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def _longest_stop_prefix(text: str, stops: Sequence[str]) -> int:
    """The length of the longest suffix of ``text`` that begins some stop string."""
    best = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:n]):
                best = n
                break
    return best
