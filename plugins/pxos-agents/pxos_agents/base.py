"""What both agents share: settings, the memory lookup before acting, building the proposal."""

from __future__ import annotations

import fnmatch
from typing import Any, Mapping, Optional

from pxos_kernel import AgentError, Proposal, PxosError, Task

from pxos_agents.prompts import make_patch

#: Files an agent reads but does not rewrite: the tests are the judge, not the defendant.
TEST_PATTERNS = ("test_*.py", "*_test.py", "tests/*", "*/tests/*", "conftest.py")
MEMORY_HITS = 3


def is_test_file(path: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in TEST_PATTERNS)


def setting(settings: Mapping[str, Any], key: str, kind: type, default: Any, agent: str) -> Any:
    """One agent setting from config, checked for type (ConfigError-like AgentError names it)."""
    value = settings.get(key, default)
    if value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise AgentError(f"agent {agent}: setting agents.{agent}.{key} = {value!r} is not of type {kind.__name__}") from None


def prior_work(kernel: Any, task: Task) -> list[dict]:
    """Memory entries related to ``task``'s goal, best first (queried before every proposal)."""
    if kernel is None:
        return []
    from pxos_agents.memory import MemoryStore

    store = MemoryStore(kernel)
    try:
        return [{"atom_id": m.atom_id, "kind": m.kind, "title": m.title}
                for m in store.search(task.goal, limit=MEMORY_HITS)]
    finally:
        store.close()


def build_proposal(agent: str, model: str, task: Task, text: str, files: Mapping[str, str], reasoning: str,
                   meta: Optional[dict] = None) -> Proposal:
    """A proposal carrying the new files and the diff against the task's files."""
    if not text.strip() and not files:
        raise AgentError(f"agent {agent}: model {model} returned no text")
    return Proposal(agent=agent, model=model, text=text, reasoning=reasoning,
                    patch=make_patch(task.files, files), meta={"files": dict(files), **(meta or {})})


def as_agent_error(agent: str, exc: PxosError) -> AgentError:
    return exc if isinstance(exc, AgentError) else AgentError(f"agent {agent}: {exc}")
