"""pxos-agents' pixellm-local agent selects pixellm models by name: registered versions and converted checkpoints.

(The same models through ``model generate``, ``run pixellm`` and the engine
are pxos-pixellm's own tests: test_registry.py and test_converted_models.py.)
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pxos_agents")
pytest.importorskip("pxos_pixellm")

from pixellm_testmodels import CASES, TINY, build_hf_model, random_tensors  # noqa: E402
from pxos_kernel import Task  # noqa: E402
from pxos_pixellm import save_model  # noqa: E402

LLAMA, QWEN2 = CASES[0], CASES[3]


@pytest.fixture
def held_out(tmp_path):
    from pxos_pixellm.engine import shipped_held_out_path

    path = tmp_path / "held-out.txt"
    path.write_bytes(shipped_held_out_path().read_bytes()[:3000])
    return path


def register(pxos_cli, path, name, held_out) -> dict:
    code, out, err = pxos_cli("model", "register", str(path), "--name", name, "--eval-text", str(held_out), "--json")
    assert code == 0, err
    return json.loads(out)


def test_the_agent_selects_a_registered_version_by_name(pxos_cli, pxos_kernel, tmp_path, held_out):
    path = tmp_path / "small.pxi"
    save_model(path, TINY, random_tensors(TINY), encoding="fp32")
    register(pxos_cli, path, "coder", held_out)
    agents = pxos_kernel.registry("agent").get("pixellm-local")
    agent = agents.factory({"kernel": pxos_kernel, "model": "coder", "max_tokens": 8})
    assert agent.ready().ok, agent.ready().reason
    missing = agents.factory({"kernel": pxos_kernel, "model": "nobody"})
    assert not missing.ready().ok and "'nobody'" in missing.ready().reason


@pytest.mark.parametrize("case", [LLAMA, QWEN2], ids=["llama", "qwen2"])
def test_the_agent_proposes_with_a_converted_model(pxos_cli, pxos_kernel, tmp_path, held_out, case):
    _, directory = build_hf_model(tmp_path, case)
    converted = tmp_path / "m.pxi"
    code, _, err = pxos_cli("model", "convert", str(directory), "--out", str(converted), "--encoding", "fp32")
    assert code == 0, err
    register(pxos_cli, converted, case.model_type, held_out)
    agent = pxos_kernel.registry("agent").get("pixellm-local").factory(
        {"kernel": pxos_kernel, "model": case.model_type, "max_tokens": 8})
    assert agent.ready().ok, agent.ready().reason
    proposal = agent.propose(Task("Write a note", files={"notes.txt": "TODO\n"}))
    assert proposal.model == f"pixellm/{case.model_type}" and proposal.text
