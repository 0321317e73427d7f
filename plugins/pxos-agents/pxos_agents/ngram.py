"""A small, real, deterministic inference engine: a character n-gram model.

It is not registered by the plugin. Tests and benchmarks register it (as
``kernel.plugins.register(NgramPlugin(text), "test-engine")``) to exercise
agents and ``serve`` without a large model: it learns the character
transitions of a training text and continues a prompt from its last
``order`` characters, backing off to shorter contexts for unseen ones. At
temperature 0 it is greedy (so a prompt ending like a training passage
reproduces that passage); above 0 it samples with ``seed``. One character is
one token.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from typing import Iterator, Mapping, Optional

from pxos_kernel import GenerationChunk, GenerationRequest, InferenceEngine, InferenceError, hookimpl


class NgramEngine:
    """Meets :class:`pxos_kernel.interfaces.Engine` with one model, ``ngram-<order>``."""

    def __init__(self, text: str, order: int = 12, delay: float = 0.0) -> None:
        if not text:
            raise InferenceError("the n-gram engine needs a non-empty training text")
        self.order = order
        self.delay = delay  # seconds per token, to stand in for a slow model in concurrency tests
        self.model_id = f"ngram-{order}"
        self._next: dict[str, Counter] = defaultdict(Counter)
        for i in range(len(text)):
            for n in range(0, order + 1):
                if i - n < 0:
                    break
                self._next[text[i - n:i]][text[i]] += 1

    def models(self) -> list[str]:
        return [self.model_id]

    def _step(self, context: str, rng: random.Random, temperature: float) -> str:
        for n in range(min(self.order, len(context)), -1, -1):
            counts = self._next.get(context[len(context) - n:])
            if counts:
                break
        choices = sorted((counts or {}).items())
        if temperature <= 0:
            return max(choices, key=lambda item: item[1])[0]
        weights = [count ** (1.0 / temperature) for _, count in choices]
        return rng.choices([c for c, _ in choices], weights)[0]

    def generate(self, request: GenerationRequest) -> Iterator[GenerationChunk]:
        if request.model not in (None, self.model_id):
            raise InferenceError(f"n-gram engine: no model {request.model!r} (it has {self.model_id})")
        if request.max_tokens < 0:
            raise InferenceError(f"max_tokens must be >= 0, not {request.max_tokens}")
        rng = random.Random(request.seed)
        context, pending = request.prompt, ""
        total = since = 0  # tokens made in all, and since the last chunk
        hold = max((len(s) for s in request.stop), default=1) - 1  # a stop string may still be forming
        while total < request.max_tokens:
            char = self._step(context[-self.order:], rng, request.temperature)
            if self.delay:
                time.sleep(self.delay)
            context += char
            pending += char
            total += 1
            since += 1
            for stop in request.stop:
                if stop and stop in pending:
                    yield GenerationChunk(pending[:pending.index(stop)], since, "stop")
                    return
            if len(pending) > hold:
                cut = len(pending) - hold
                yield GenerationChunk(pending[:cut], since, None)
                pending, since = pending[cut:], 0
        yield GenerationChunk(pending, since, "length")

    def close(self) -> None:
        pass


class NgramPlugin:
    """A plugin object registering an :class:`NgramEngine` under ``name``."""

    def __init__(self, text: str, name: str = "test-engine", order: int = 12, delay: float = 0.0,
                 settings: Optional[Mapping] = None) -> None:
        self.engine = NgramEngine(text, order, delay)
        self.name = name

    @hookimpl
    def pxos_inference_engines(self):
        return InferenceEngine(self.name, lambda settings: self.engine, "character n-gram model (tests)")
