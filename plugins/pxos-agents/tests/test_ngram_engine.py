"""The test engine itself meets the Engine contract, so agent tests rest on a real engine."""

import pytest

from pxos_kernel import GenerationRequest
from pxos_kernel.testing import EngineConformance

from pxos_agents.ngram import NgramEngine

from conftest import CORPUS


class TestNgramEngine(EngineConformance):
    @pytest.fixture
    def engine(self):
        return NgramEngine(CORPUS * 3 + open(__file__).read())


def test_greedy_continuation_reproduces_the_corpus():
    engine = NgramEngine(CORPUS)
    text = "".join(c.text for c in engine.generate(GenerationRequest("```file:calc.py\n", max_tokens=100,
                                                                     temperature=0, stop=("```",))))
    assert text == "def add(a, b):\n    return a + b\n"
