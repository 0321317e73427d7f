"""Fixtures: a kernel with a small real inference engine, and task files on disk.

Until pxos-pixellm is installed with a model, the local agent runs on
:class:`pxos_agents.ngram.NgramEngine` (a character n-gram model trained on
CORPUS below), registered as engine ``test-engine``. It really generates: a
prompt whose end matches a passage of the corpus is continued with that
passage, anything else with whatever the statistics give.
"""

from __future__ import annotations

import sys

import pytest

from pxos_kernel.testing import add_plugin

from pxos_agents.ngram import NgramPlugin

#: What the test engine has "read": a correct add() for calc.py, in the agents' file-block format.
CORPUS = '''Notes on small Python helpers.

# Proposed calc.py
```file:calc.py
def add(a, b):
    return a + b
```

A function returns its value with the return statement.
'''

CALC = "def add(a, b):\n    raise NotImplementedError\n"
TEST_CALC = "from calc import add\n\nassert add(2, 3) == 5\nassert add(-1, 1) == 0\nprint('ok')\n"
MUL = "def mul(a, b):\n    raise NotImplementedError\n"
TEST_MUL = "from mul import mul\n\nassert mul(2, 3) == 6\nprint('ok')\n"


def with_test_engine(monkeypatch, text: str = CORPUS, delay: float = 0.0) -> None:
    """Make every Kernel built from now on (the CLI's too) load the n-gram engine as 'test-engine'."""
    add_plugin(monkeypatch, NgramPlugin(text, delay=delay), "test-engine")


def write_config(home, data: dict) -> None:
    from pxos_kernel import save_config

    save_config(home, data)


@pytest.fixture
def kernel(pxos_home, monkeypatch):
    """A kernel whose pixellm-local agent uses the n-gram test engine."""
    from pxos_kernel import Kernel

    with_test_engine(monkeypatch)
    write_config(pxos_home, {"agents": {"pixellm-local": {"engine": "test-engine"}}})
    kernel = Kernel(pxos_home)
    yield kernel
    kernel.close()


@pytest.fixture
def task_dir(tmp_path):
    """Two small tasks on disk: calc (the engine knows the answer) and mul (it does not)."""
    root = tmp_path / "work"
    root.mkdir()
    for name, text in {"calc.py": CALC, "test_calc.py": TEST_CALC, "mul.py": MUL, "test_mul.py": TEST_MUL}.items():
        (root / name).write_text(text)
    return root


PYTHON = sys.executable


@pytest.fixture(autouse=True, scope="session")
def _sandbox_isolation(pxos_sandbox):
    """These tests run cartridge and task tests through the kernel sandbox, which needs filesystem isolation."""
    return pxos_sandbox
