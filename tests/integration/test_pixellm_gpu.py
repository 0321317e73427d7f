"""pxos-pixellm-gpu with everything else: converted Llama and Qwen2 models, genesis G5, agents and serve.

The GPU is Mesa's software Vulkan (lavapipe), installed when missing, so these run wherever CI runs.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pxos_pixellm_gpu")
openai = pytest.importorskip("openai")

from pxos_kernel import GenerationRequest  # noqa: E402
from pxos_kernel.testing import require_system_package  # noqa: E402

from pixellm_testmodels import CASES, build_hf_model  # noqa: E402

TEXT = "def decode(self, s):\n    return self.raw_decode(s)\n"


@pytest.fixture(scope="module", autouse=True)
def lavapipe():
    return require_system_package(f"/usr/share/vulkan/icd.d/lvp_icd.{platform.machine()}.json", "mesa-vulkan-drivers")


def greedy_ids(model, ids, count=64):
    """``count`` greedy token ids after ``ids`` (end-of-sequence ids do not stop it)."""
    cache = model.new_cache()
    logits = model.forward(list(ids), cache, last_only=True)[-1]
    out = []
    while True:
        out.append(int(np.argmax(logits)))
        if len(out) == count:
            return out
        logits = model.forward([out[-1]], cache, last_only=True)[-1]


def text_of(engine, request):
    chunks = list(engine.generate(request))
    return "".join(c.text for c in chunks), sum(c.tokens for c in chunks)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_converted_models_give_the_numpy_engines_answers(tmp_path, pxos_kernel, pxos_cli, case):
    """Logits within 1e-3 of pixellm's numpy reference (fp32, fp16, int8 dequantized as the GPU does), 64 greedy
    tokens token for token, and int8 within pixellm's int8 tolerance of its compiled kernels."""
    _, directory = build_hf_model(tmp_path, case)
    numpy_engine = pxos_kernel.engine("pixellm", compute="numpy")
    gpu_engine = pxos_kernel.engine("pixellm-gpu")
    for encoding in ("fp32", "fp16", "int8"):
        out = tmp_path / f"{case.id}-{encoding}.pxi"
        code, _, err = pxos_cli("model", "convert", str(directory), "--out", str(out), "--encoding", encoding)
        assert code == 0, err
        ids = np.asarray(numpy_engine.tokenizer(str(out)).encode(TEXT))
        expected = numpy_engine.transformer(str(out)).forward(ids)
        gpu_model = gpu_engine.transformer(str(out))
        np.testing.assert_allclose(gpu_model.forward(ids), expected, atol=1e-3, rtol=0)
        prompt = ids[:1]  # 1 + 63 positions: the models' whole context of 64
        assert greedy_ids(gpu_model, prompt) == greedy_ids(numpy_engine.transformer(str(out)), prompt)
        request = GenerationRequest("class JSONDecoder", model=str(out), max_tokens=64, temperature=0)
        assert text_of(gpu_engine, request) == text_of(numpy_engine, request)
        if encoding == "int8":  # pixellm's own bound for its compiled int8 (tests/test_native.py)
            compiled = pxos_kernel.engine("pixellm").transformer(str(out)).forward(ids)
            gpu = gpu_model.forward(ids)
            assert np.sqrt(np.mean((gpu - compiled) ** 2) / np.mean(compiled ** 2)) < 0.05


def test_genesis_runs_the_gpu_engine_for_g5(pxos_cli):
    code, out, _ = pxos_cli("genesis", "--json")
    items = {i["id"]: i for i in json.loads(out)["items"]}
    for ident, words in (("G5.1", "entirely on"), ("G5.2", "'layers 0-0'"), ("G5.3", "byte for byte")):
        assert items[ident]["status"] == "passed", items[ident]
        assert words in items[ident]["evidence"]


def test_the_local_agent_proposes_with_the_gpu_engine(tmp_path, pxos_home):
    (pxos_home / "config.yaml").write_text("agents:\n  pixellm-local:\n    engine: pixellm-gpu\n"
                                           "    temperature: 0.8\n    seed: 0\n    max_tokens: 32\n"
                                           "    reasoning_tokens: 16\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("TODO\n")
    env = {**os.environ, "PXOS_HOME": str(pxos_home)}
    done = subprocess.run([sys.executable, "-m", "pxos_kernel", "agent", "propose", "Write a note", "--file",
                           "notes.txt", "--json"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"] == "pixellm-gpu/default"


def test_serve_offers_the_gpu_engines_models(tmp_path, pxos_kernel):
    env = {**os.environ, "PXOS_HOME": str(tmp_path / "serve-home")}
    proc = subprocess.Popen([sys.executable, "-m", "pxos_kernel", "serve", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = next(line.split(" at ", 1)[1].split()[0] for line in proc.stdout if line.startswith("serving "))
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=300)
        assert "pixellm-gpu/default" in [m.id for m in client.models.list().data]
        reply = client.completions.create(model="pixellm-gpu/default", prompt="pxOS is", max_tokens=24, seed=5,
                                          temperature=0.8)
        local, _ = text_of(pxos_kernel.engine("pixellm"), GenerationRequest("pxOS is", max_tokens=24, seed=5,
                                                                            temperature=0.8))
        assert reply.choices[0].text == local and local
    finally:
        proc.terminate()
        proc.wait(30)
