"""pxos-agents with the real pixellm engine, through the real ``pxos-kernel`` command.

* the coaching loop offline end to end: pixellm-local proposes, the tasks' own
  test commands judge in sandbox copies; one task is accepted (its test asks
  for a non-empty note, which the model writes) and one is rejected (its test
  needs a correct function the model cannot write);
* ``pxos-kernel serve`` in its own process, driven by the official openai
  client, giving the same text as the engine in-process for the same seed;
* the openai-compatible agent against that server, refused without consent
  and logged to the ledger with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pxos_agents")
pytest.importorskip("pxos_pixellm")
openai = pytest.importorskip("openai")

NOTE_TEST = ("text = open('notes.txt').read().strip()\n"
             "assert text and text != 'TODO', 'notes.txt is still empty'\n")


def _pixellm_models() -> list[str]:
    """What the pixellm engine serves, asked through the kernel's registry like the agents do."""
    import tempfile

    from pxos_kernel.core import Kernel

    with tempfile.TemporaryDirectory() as home, Kernel(home) as kernel:
        return kernel.engine("pixellm").models()


pytestmark = pytest.mark.skipif(not _pixellm_models(), reason="pxos-pixellm is installed but has no model to serve yet")

FIB = "def fib_x7(n):\n    raise NotImplementedError\n"
FIB_TEST = "from fib import fib_x7\nassert fib_x7(30) == 832040\n"


def _cli(home: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PXOS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "pxos_kernel", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def work(tmp_path):
    root = tmp_path / "work"
    root.mkdir()
    files = {"notes.txt": "TODO\n", "test_notes.py": NOTE_TEST, "fib.py": FIB, "test_fib.py": FIB_TEST}
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_coaching_loop_offline_with_pixellm(tmp_path, work):
    home = tmp_path / "home"
    home.mkdir()
    # sampled, not greedy: the small shipped model's greedy continuation here is blank lines (seed 0 keeps it fixed)
    (home / "config.yaml").write_text("agents:\n  pixellm-local:\n    temperature: 0.8\n    seed: 0\n")
    run = lambda *argv: _cli(home, work, *argv)  # noqa: E731
    listing = json.loads(run("agent", "list", "--json").stdout)
    local = next(a for a in listing if a["name"] == "pixellm-local")
    assert local["ready"], local["reason"]
    assert run("agent", "task", "add", "Write a one-line note about pxOS into notes.txt", "--file", "notes.txt",
               "--file", "test_notes.py", "--test", "python test_notes.py", "--priority", "1").returncode == 0
    assert run("agent", "task", "add", "Implement fib_x7(n), the n-th Fibonacci number", "--file", "fib.py",
               "--file", "test_fib.py", "--test", "python test_fib.py", "--max-attempts", "1").returncode == 0
    coached = run("agent", "coach", "--max-tasks", "2", "--rounds", "1", "--json")
    outcomes = {o["task_id"]: o for o in json.loads(coached.stdout)}
    assert outcomes[1]["decision"] == "accepted", outcomes[1]
    assert outcomes[2]["decision"] == "rejected", outcomes[2]
    accepted = Path(outcomes[1]["accepted_dir"])
    assert (accepted / "notes.txt").read_text().strip() not in ("", "TODO")
    assert (work / "notes.txt").read_text() == "TODO\n"  # only the sandbox copy changed
    assert run("ledger", "verify").returncode == 0
    shown = run("agent", "memory", "show", outcomes[1]["memory_id"], "--json")
    assert json.loads(shown.stdout)["agent"] == "pixellm-local"


@pytest.fixture
def served(tmp_path):
    """``pxos-kernel serve --port 0`` in its own process; yields (base_url, home).

    Besides the shipped completion model it serves ``pixellm/chat``: a tiny random model with a
    tokenizer and a ChatML template, put in the engine's model directory.
    """
    from pixellm_testmodels import chat_pixel_model

    home = tmp_path / "serve-home"
    (home / "inference" / "pixellm" / "models").mkdir(parents=True)
    chat_pixel_model(home / "inference" / "pixellm" / "models" / "chat.pxi")
    env = {**os.environ, "PXOS_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "pxos_kernel", "serve", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("serving "):
                yield line.split(" at ", 1)[1].split()[0], home
                break
        else:
            pytest.fail(f"serve did not start: {proc.stderr.read()}")
    finally:
        proc.terminate()
        proc.wait(30)


def _served_model(served, name: str) -> Path:
    return served[1] / "inference" / "pixellm" / "models" / f"{name}.pxi"


def test_openai_client_against_serve_matches_the_engine(served, pxos_kernel):
    url, _ = served
    from pxos_kernel.interfaces import GenerationRequest

    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=300)
    assert "pixellm/default" in [m.id for m in client.models.list().data]
    reply = client.completions.create(model="pixellm/default", prompt="pxOS is", max_tokens=24, seed=5,
                                      temperature=0.8)
    local = "".join(c.text for c in pxos_kernel.engine("pixellm").generate(
        GenerationRequest("pxOS is", model="default", max_tokens=24, seed=5, temperature=0.8)))
    assert reply.choices[0].text == local and local
    messages = [{"role": "user", "content": "hello"}]
    streamed = client.chat.completions.create(model="pixellm/chat", stream=True, max_tokens=16, seed=3,
                                              messages=messages)
    engine = pxos_kernel.engine("pixellm")
    local = "".join(c.text for c in engine.chat(
        GenerationRequest("", model=str(_served_model(served, "chat")), max_tokens=16, seed=3), messages))
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == local
    with pytest.raises(openai.BadRequestError, match="no chat template"):  # the byte model is a completion model
        client.chat.completions.create(model="pixellm/default", max_tokens=4, messages=messages)
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="pixellm/no-such-model", prompt="x")


def test_openai_compatible_agent_needs_consent_and_is_logged(served, tmp_path, work):
    url, _ = served
    home = tmp_path / "agent-home"
    home.mkdir()
    (home / "config.yaml").write_text(f"agents:\n  openai-compatible:\n    base_url: {url}\n    model: pixellm/chat\n"
                                      "    max_tokens: 64\n"
                                      "    temperature: 0.8\n    seed: 0\n")
    refused = _cli(home, work, "agent", "propose", "Write a note", "--agent", "openai-compatible",
                   "--file", "notes.txt")
    assert refused.returncode == 1 and "no network consent for host 127.0.0.1" in refused.stderr
    assert _cli(home, work, "agent", "consent", "grant", "127.0.0.1").returncode == 0
    ok = _cli(home, work, "agent", "propose", "Write a note", "--agent", "openai-compatible", "--file", "notes.txt",
              "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["model"] == "pixellm/chat"
    records = [json.loads(line) for line in (home / "ledger" / "ledger.jsonl").read_text().splitlines()]
    net = [r["payload"] for r in records if r["type"] == "NET" and r["op"] == "http_request"]
    assert [(p["method"], p["path"], p["status"]) for p in net][-1] == ("POST", "/v1/chat/completions", 200)
