"""Generation: seeded determinism, sampling knobs, stop strings, streaming and bad prompts."""

from __future__ import annotations

import numpy as np
import pytest

from pixellm_testmodels import TINY
from pxos_kernel import InferenceError
from pxos_pixellm.generation import generate
from pxos_pixellm.model import Transformer
from pxos_pixellm.sampling import sample


@pytest.fixture
def model(tiny_tensors):
    return Transformer(TINY, tiny_tensors)


def text_of(pieces):
    return "".join(p.text for p in pieces)


def raw_bytes(model, prompt, n, **knobs):
    """The bytes generate() picks, replayed by hand: prefill, then one cached step per token."""
    rng = np.random.default_rng(knobs.pop("seed", None))
    cache = model.new_cache()
    logits = model.forward(list(prompt.encode()), cache)[-1]
    out = []
    for _ in range(n):
        token = sample(logits, rng, allowed=256, **knobs)
        out.append(token)
        logits = model.forward([token], cache)[-1]
    return bytes(out)


def test_same_seed_same_text_other_seed_other_text(model):
    first = text_of(generate(model, "def f(x):", max_tokens=20, seed=3))
    assert first == text_of(generate(model, "def f(x):", max_tokens=20, seed=3))
    assert first != text_of(generate(model, "def f(x):", max_tokens=20, seed=4))


def test_generation_is_the_sampled_bytes(model):
    pieces = list(generate(model, "abc", max_tokens=12, seed=5, temperature=0.9, top_k=40))
    expected = raw_bytes(model, "abc", 12, seed=5, temperature=0.9, top_k=40)
    assert text_of(pieces) == expected.decode("utf-8", errors="replace")
    assert sum(p.tokens for p in pieces) == 12 and pieces[-1].finish_reason == "length"


def test_temperature_zero_and_top_k_one_are_greedy(model):
    greedy = text_of(generate(model, "x = ", max_tokens=10, temperature=0))
    assert greedy == text_of(generate(model, "x = ", max_tokens=10, top_k=1, seed=99))
    assert greedy == raw_bytes(model, "x = ", 10, temperature=0).decode("utf-8", errors="replace")


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    rng = np.random.default_rng(0)
    picks = {sample(logits, rng, temperature=1.0, top_p=0.75) for _ in range(300)}
    assert picks == {0, 1}


def test_stop_string_ends_generation_before_it(model):
    free = text_of(generate(model, "import ", max_tokens=30, temperature=0))
    # a two-character ASCII stop (the random model also emits bytes that decode to U+FFFD)
    stop = next(free[i:i + 2] for i in range(1, len(free) - 1) if free[i:i + 2].isascii())
    pieces = list(generate(model, "import ", max_tokens=30, temperature=0, stop=[stop]))
    assert text_of(pieces) == free[: free.index(stop)]
    assert pieces[-1].finish_reason == "stop"


def test_output_streams_in_several_pieces(model):
    pieces = list(generate(model, "a", max_tokens=20, seed=1))
    assert len(pieces) > 1 and all(p.finish_reason is None for p in pieces[:-1])


def test_generation_goes_on_past_the_context(model):
    pieces = list(generate(model, "q", max_tokens=3 * TINY.max_position_embeddings, seed=2))
    assert sum(p.tokens for p in pieces) == 3 * TINY.max_position_embeddings


def test_long_prompt_keeps_its_last_context_minus_one_bytes(model):
    tail = "z" * (TINY.max_position_embeddings - 1)
    long_prompt = "IGNORED PREFIX " * 10 + tail
    assert (text_of(generate(model, long_prompt, max_tokens=8, seed=6))
            == text_of(generate(model, tail, max_tokens=8, seed=6)))


def test_non_utf8_prompt_is_an_error(model):
    with pytest.raises(InferenceError, match=r"not valid UTF-8 \(byte 1"):
        list(generate(model, b"a\xff\xfe", max_tokens=2))


def test_empty_prompt_is_an_error(model):
    with pytest.raises(InferenceError, match="prompt is empty"):
        list(generate(model, "", max_tokens=2))


@pytest.mark.parametrize("knobs,message", [
    ({"temperature": -1}, "temperature"), ({"top_k": 0}, "top-k"), ({"top_p": 1.5}, "top-p"),
    ({"max_tokens": 0}, "max tokens")])
def test_bad_sampling_knobs_are_errors(model, knobs, message):
    with pytest.raises(InferenceError, match=message):
        list(generate(model, "a", **{"max_tokens": 2, **knobs}))


def test_the_public_generate_is_the_function_after_its_module_was_imported():
    """A lazily exported name that equals its module's name was shadowed by the module once imported."""
    import subprocess
    import sys

    # A fresh interpreter, so the engine's import of the generation loop comes first, as it does in `serve`.
    code = ("import types, pxos_pixellm, pxos_pixellm.engine, pxos_pixellm.generation\n"
            "exports = {name: getattr(pxos_pixellm, name) for name in pxos_pixellm.__all__ if name != '__version__'}\n"
            "print(sorted(name for name, value in exports.items() if isinstance(value, types.ModuleType)))\n"
            "print(callable(pxos_pixellm.generate))")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert lines == ["[]", "True"]
