"""Every supported architecture against ``transformers`` itself: logits, greedy generation, GGUF round trip.

Each case is a random-initialised ``transformers`` model (Llama 2 with a
SentencePiece-style vocabulary, Llama 3 with its rope scaling, Mistral with a
sliding window, Qwen2 tied and untied) with a BPE tokenizer trained in the
test. The converted pixel model must give fp32 logits within 1e-4 of
transformers', pick the same tokens as ``generate`` greedily, and do both
again after an export to GGUF and an import back.
"""

from __future__ import annotations

import numpy as np
import pytest

from pixellm_testmodels import CASES, build_hf_model, hf_greedy, hf_logits
from pxos_pixellm.container import open_model
from pxos_pixellm.convert import convert
from pxos_pixellm.generation import token_ids
from pxos_pixellm.model import build_transformer

PROMPT = "def decode(self, s):\n    return self.raw"
NEW_TOKENS = 24


def pixel_model(path, compute="numpy"):
    opened = open_model(path)
    return build_transformer(opened, compute), opened.tokenizer()


@pytest.fixture(params=["numpy", "native"])
def compute(request):
    """Both computations: the numpy reference and the compiled kernels (which must build here)."""
    return request.param


def greedy(model, ids, eos):
    return list(token_ids(model, ids, max_tokens=NEW_TOKENS, temperature=0, eos=eos))


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def converted(request, tmp_path_factory):
    case = request.param
    tmp = tmp_path_factory.mktemp(case.id)
    hf, directory = build_hf_model(tmp, case)
    out = tmp / "m.pxi"
    summary = convert(directory, out, encoding="fp32")
    assert summary["architecture"] == case.model_type and summary["tokenizer"] == "hf"
    return case, hf, directory, out


def test_tokenizer_is_stored_and_encodes_like_transformers(converted):
    from transformers import AutoTokenizer

    case, _, directory, out = converted
    _, tokenizer = pixel_model(out)
    reference = AutoTokenizer.from_pretrained(directory)
    assert tokenizer.encode(PROMPT) == reference(PROMPT)["input_ids"]
    ids = tokenizer.encode(PROMPT)
    assert tokenizer.decode(ids) == reference.decode(ids, skip_special_tokens=True)


def test_logits_match_transformers(converted, compute):
    _, hf, _, out = converted
    model, tokenizer = pixel_model(out, compute)
    ids = tokenizer.encode(PROMPT)
    np.testing.assert_allclose(model.forward(ids), hf_logits(hf, ids), atol=1e-4, rtol=1e-4)


def test_greedy_generation_matches_transformers_generate(converted, compute):
    _, hf, _, out = converted
    model, tokenizer = pixel_model(out, compute)
    ids = tokenizer.encode(PROMPT)
    assert greedy(model, ids, tokenizer.eos_token_ids) == hf_greedy(hf, ids, NEW_TOKENS)


def test_kv_cache_decoding_matches_one_pass(converted, compute):
    _, _, _, out = converted
    model, tokenizer = pixel_model(out, compute)
    ids = tokenizer.encode(PROMPT * 2)[:40]
    whole = model.forward(ids)
    cache = model.new_cache()
    pieces = [model.forward(ids[:7], cache)] + [model.forward([t], cache) for t in ids[7:]]
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-4, rtol=1e-4)


def test_gguf_round_trip_keeps_logits_generation_and_tokenizer(converted, compute, tmp_path):
    pytest.importorskip("gguf")
    _, hf, _, out = converted
    gguf_file = tmp_path / "m.gguf"
    convert(out, gguf_file)
    back = tmp_path / "back.pxi"
    convert(gguf_file, back, encoding="fp32")
    model, tokenizer = pixel_model(back, compute)
    ids = tokenizer.encode(PROMPT)
    assert ids == pixel_model(out)[1].encode(PROMPT)
    np.testing.assert_allclose(model.forward(ids), hf_logits(hf, ids), atol=1e-4, rtol=1e-4)
    assert greedy(model, ids, tokenizer.eos_token_ids) == hf_greedy(hf, ids, NEW_TOKENS)


def test_safetensors_export_loads_in_transformers(converted, tmp_path):
    import transformers

    case, hf, _, out = converted
    exported = tmp_path / "exported"
    convert(out, exported)
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(exported).eval()
    assert type(reloaded) is type(hf)
    ids = open_model(out).tokenizer().encode(PROMPT)
    np.testing.assert_allclose(hf_logits(reloaded, ids), hf_logits(hf, ids), atol=1e-5)
    reference = transformers.AutoTokenizer.from_pretrained(exported)
    assert reference(PROMPT)["input_ids"] == ids
    assert (reference.chat_template or None) == case.template
