"""Bits per byte of a model on a text, next to what gzip -9 and xz -9 need for the same text.

The model reads the text in windows of its context length with a stride of
half a context: the first window scores every byte, each later window scores
only its second half, so every byte but the first few hundred is predicted
from at least half a context of preceding text. The first byte has no context
and is scored as uniform (8 bits), as a byte model starting cold must.

The compressors are the standard library's bindings of the same libraries the
command-line tools use: ``gzip.compress(level=9)`` is ``gzip -9`` and
``lzma.compress(preset=9)`` is ``xz -9``, headers included.
"""

from __future__ import annotations

import gzip
import lzma
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from pxos_kernel import InferenceError, Progress, progress

from .model import Transformer


@dataclass(frozen=True)
class Evaluation:
    bits_per_byte: float
    gzip_bits_per_byte: float
    xz_bits_per_byte: float
    size: int
    source: str

    def to_dict(self) -> dict:
        return {"bits_per_byte": round(self.bits_per_byte, 4),
                "gzip_bits_per_byte": round(self.gzip_bits_per_byte, 4),
                "xz_bits_per_byte": round(self.xz_bits_per_byte, 4),
                "ratio_to_gzip": round(self.bits_per_byte / self.gzip_bits_per_byte, 4),
                "size": self.size, "source": self.source}


def model_bits(model: Transformer, data: bytes, tokenizer: Any = None) -> float:
    """Total bits the model needs to encode ``data`` with its tokenizer (bytes for byte-level models).

    The text is tokenized whole (no special tokens added); the first token,
    predicted from no context, costs ``log2(vocabulary)`` bits. Bits per byte
    are this divided by ``len(data)``, so models with different tokenizers
    compare on the same bytes. On a terminal, a bar counts the tokens scored.
    """
    if len(data) < 2:
        raise InferenceError("the text to evaluate needs at least 2 bytes")
    if tokenizer is None or tokenizer.kind == "bytes":
        if model.config.tokenizer != "bytes" and tokenizer is None:
            raise InferenceError("bits per byte needs the model's tokenizer (this model was stored without one)")
        ids = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InferenceError(f"the text to evaluate is not valid UTF-8 (byte {exc.start})") from None
        ids = np.asarray(tokenizer.encode(text, add_special_tokens=False), dtype=np.int64)
        if len(ids) < 2:
            raise InferenceError("the text to evaluate is a single token: give a longer text")
    with progress(description="bits per byte", total=len(ids), unit="token") as bar:
        return sequence_bits(model, ids, bar)


def _window_nats(model: Transformer, window: np.ndarray, first: int) -> float:
    """Nats of ``window[first + 1:]``, each token predicted from the window's tokens before it."""
    logits = model.forward(window).astype(np.float64)
    # logits[j] predicts window[j + 1].
    targets = window[first + 1:]
    rows = logits[first:len(window) - 1]
    top = rows.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
    return float((log_z - rows[np.arange(len(targets)), targets]).sum())


def sequence_bits(model: Transformer, ids: np.ndarray, bar: Optional[Progress] = None) -> float:
    """Total bits of the token sequence ``ids`` under the model (windows of a context, half-context stride).

    ``bar`` (a :func:`~pxos_kernel.progress`, if given) advances by each token as it is scored.
    """
    context = model.config.max_position_embeddings
    stride = max(1, context // 2)
    total_nats = math.log(model.config.vocab_size)  # the first token, predicted with no context at all
    scored = 1  # positions [0, scored) are accounted for
    start = 0
    if bar is not None:
        bar.update(1)
    while scored < len(ids):
        window = ids[start:start + context]
        total_nats += _window_nats(model, window, scored - start - 1)
        if bar is not None:
            bar.update(start + len(window) - scored)
        scored = start + len(window)
        start += stride if start + context < len(ids) else len(window)
    return total_nats / math.log(2)


def sampled_bits_per_token(model: Transformer, ids: np.ndarray, windows: int) -> float:
    """Bits per token over ``windows`` evenly spaced full windows of :func:`sequence_bits`' walk.

    Each sampled window starts where one of the full evaluation's windows
    starts and scores only the second half of it, as the full evaluation does:
    every token scored here costs exactly what it costs in the full figure,
    so this is the full figure's mean over a fixed, evenly spread subset of
    its tokens (a quick estimate; the first half-context, scored cold, is
    left out).
    """
    context = model.config.max_position_embeddings
    stride = max(1, context // 2)
    starts = range(0, len(ids) - context + 1, stride)
    if not starts:
        raise InferenceError(f"sampling needs at least one full window of {context} tokens")
    picked = sorted({starts[int(i)] for i in np.linspace(0, len(starts) - 1, max(1, windows)).round()})
    nats = sum(_window_nats(model, ids[start:start + context], stride - 1) for start in picked)
    return nats / math.log(2) / (len(picked) * (context - stride))


def evaluate(model: Transformer, data: bytes, source: str, tokenizer: Any = None) -> Evaluation:
    """The model's bits per byte on ``data`` and gzip -9's and xz -9's on the same bytes."""
    bits = model_bits(model, data, tokenizer)
    return Evaluation(
        bits_per_byte=bits / len(data),
        gzip_bits_per_byte=8 * len(gzip.compress(data, compresslevel=9, mtime=0)) / len(data),
        xz_bits_per_byte=8 * len(lzma.compress(data, preset=9)) / len(data),
        size=len(data), source=source)
