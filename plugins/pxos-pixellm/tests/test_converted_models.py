"""A converted Llama-family and a converted Qwen2 model, from the CLI: generate, run pixellm, the engine (serve's path).

The pixellm-local agent on the same models is a cross-plugin test:
tests/integration/test_agents_pixellm_models.py.
"""

from __future__ import annotations

import json

import pytest

from pixellm_testmodels import CASES, build_hf_model
from pxos_kernel import GenerationRequest
from pxos_pixellm.engine import shipped_held_out_path
from pxos_pixellm.generation import token_ids

LLAMA, QWEN2 = CASES[0], CASES[3]


@pytest.mark.parametrize("case", [LLAMA, QWEN2], ids=["llama", "qwen2"])
def test_a_converted_model_generates_everywhere_by_name(pxos_cli, pxos_kernel, tmp_path, case):
    hf, directory = build_hf_model(tmp_path, case)
    converted = tmp_path / "m.pxi"
    code, out, err = pxos_cli("model", "convert", str(directory), "--out", str(converted), "--encoding", "fp32",
                              "--json")
    assert code == 0 and json.loads(out)["tokenizer"] == "hf", err
    held_out = tmp_path / "held-out.txt"
    held_out.write_bytes(shipped_held_out_path().read_bytes()[:4000])
    code, out, err = pxos_cli("model", "register", str(converted), "--name", case.model_type, "--eval-text",
                              str(held_out), "--json")
    assert code == 0 and json.loads(out)["smoke"]["passed"], err

    engine = pxos_kernel.engine("pixellm")
    loaded = engine.load(case.model_type)
    prompt = "def decode(self, s):"
    expected = list(token_ids(loaded.transformer, loaded.tokenizer.encode(prompt), max_tokens=12, temperature=0,
                              eos=loaded.tokenizer.eos_token_ids))
    pieces = list(engine.generate(GenerationRequest(prompt, model=case.model_type, max_tokens=12, temperature=0)))
    assert sum(p.tokens for p in pieces) == len(expected)  # the tokens test_architectures checks against transformers
    text = "".join(p.text for p in pieces)
    stream = loaded.tokenizer.stream()
    assert text == "".join(stream.push(t) for t in expected if t not in loaded.tokenizer.eos_token_ids) + stream.flush()
    code, out, err = pxos_cli("model", "generate", prompt, "--model", case.model_type, "--temperature", "0",
                              "--max-tokens", "12")
    assert code == 0 and out == text + "\n", err
    code, out, err = pxos_cli("run", "pixellm", "--", "--model", f"{case.model_type}@v1", "--temperature", "0",
                              "--max-tokens", "12", prompt)
    assert code == 0 and out.strip() == text.strip(), err
