"""pixellm-local on an installed inference engine (the n-gram test engine here)."""

import pytest

from pxos_kernel import AgentError, Task
from pxos_kernel.testing import AgentConformance

from conftest import CALC, TEST_CALC


class TestPixellmLocal(AgentConformance):
    @pytest.fixture
    def agent(self, kernel):
        return kernel.agent("pixellm-local")

    @pytest.fixture
    def broken_agent(self, kernel):
        from pxos_agents.local import PixellmLocalAgent

        return PixellmLocalAgent({"kernel": kernel, "engine": "no-such-engine"})


def test_proposal_is_the_model_completion_with_a_patch(kernel):
    task = Task("make add work", files={"calc.py": CALC, "test_calc.py": TEST_CALC}, test_command=("python", "test_calc.py"))
    proposal = kernel.agent("pixellm-local").propose(task)
    assert proposal.model == "test-engine/ngram-12"
    assert proposal.meta["files"] == {"calc.py": "def add(a, b):\n    return a + b\n"}  # tests are not rewritten
    assert "+    return a + b" in proposal.patch and "-    raise NotImplementedError" in proposal.patch
    assert proposal.meta["prompt_digest"].startswith("sha256:")


def test_reasoning_is_the_model_text_verbatim(kernel):
    from pxos_agents.prompts import REASONING_STOP, reasoning_prompt

    task = Task("make add work", files={"calc.py": CALC})
    proposal = kernel.agent("pixellm-local").propose(task)
    engine = kernel.engine("test-engine")
    from pxos_kernel import GenerationRequest

    request = GenerationRequest(reasoning_prompt(task), model=proposal.model.split("/", 1)[1], max_tokens=96,
                                temperature=0.0, seed=0, stop=REASONING_STOP)
    assert proposal.reasoning == "".join(chunk.text for chunk in engine.generate(request))
    assert "completion by" not in proposal.reasoning  # the agent's own summary lives in meta["how"]


def test_memory_is_consulted_before_proposing(kernel):
    from pxos_agents.memory import MemoryStore

    entry = MemoryStore(kernel).remember("decision", "add must handle negative numbers", "yes", agent="user")
    proposal = kernel.agent("pixellm-local").propose(Task("make add handle negative numbers",
                                                          files={"calc.py": CALC}))
    assert proposal.meta["memory"] == [entry.atom_id]
    assert entry.atom_id in proposal.meta["how"]


def test_engine_without_models_is_not_ready(kernel):
    from pxos_agents.local import PixellmLocalAgent

    agent = PixellmLocalAgent({"kernel": kernel, "engine": "test-engine", "model": "missing-model"})
    assert "no model 'missing-model'" in agent.ready().reason
    with pytest.raises(AgentError, match="missing-model"):
        agent.propose(Task("x", files={"calc.py": CALC}))


def test_bad_setting_is_one_clear_error(kernel):
    from pxos_agents.local import PixellmLocalAgent

    with pytest.raises(AgentError, match="max_tokens = 'lots' is not of type int"):
        PixellmLocalAgent({"kernel": kernel, "max_tokens": "lots"})
