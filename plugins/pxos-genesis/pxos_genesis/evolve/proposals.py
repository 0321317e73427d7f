"""``evolve propose``: a change to a cartridge, from an agent or a human patch, written to the ledger.

The ledger record *is* the proposal: its ATOM id names it, its payload keeps
the goal, the reasoning, the author (LLM or human) and the patch itself, so the
reasoning is preserved under the ledger's hash chain (Genesis §7.3, §10.4).
"""

from __future__ import annotations

import getpass
import hashlib
from pathlib import Path
from typing import Any, Optional

from pxos_kernel.errors import AgentError, NotFoundError, PxosError
from pxos_kernel.interfaces import Task

from pxos_genesis.evolve import CORRIDOR_PROPOSE
from pxos_genesis.evolve.patches import touched_paths

#: Source files an agent is shown (text only, bounded so a prompt stays small).
_CONTEXT_SUFFIXES = (".py", ".yaml", ".yml", ".md", ".txt", ".toml", ".cfg")
_CONTEXT_BYTES = 64 * 1024


def target_cartridge(kernel: Any, name: Optional[str]) -> str:
    name = name or kernel.section("genesis").get("cartridge")
    if not name:
        raise PxosError("no cartridge to evolve: pass --cartridge NAME (or set genesis.cartridge in config.yaml)")
    return name


def base_record(kernel: Any, name: str) -> dict:
    """The version a proposal is made against: the current one, else the latest."""
    from pxos_genesis.subject import registry

    return registry(kernel).get(name)


def propose(kernel: Any, *, goal: str, cartridge: Optional[str] = None, agent: Optional[str] = None,
            patch_file: Optional[str] = None, reason: str = "", author: Optional[str] = None) -> dict:
    """Record a proposal and return its ledger record (``record["id"]`` names it)."""
    if not goal.strip():
        raise PxosError("--goal is empty: say what the change should achieve")
    name = target_cartridge(kernel, cartridge)
    base = base_record(kernel, name)
    if patch_file is not None:
        if agent is not None:
            raise PxosError("give either --agent or --patch, not both")
        if not reason.strip():
            raise PxosError("a human patch needs --reason: the reasoning is kept in the ledger (Genesis §7.3)")
        try:
            patch = Path(patch_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise NotFoundError(f"patch file {patch_file}: cannot read it as text ({exc})") from None
        who = author or _user()
        by = {"kind": "human", "who": who}
        reasoning, text = reason.strip(), ""
    else:
        patch, reasoning, text, by = _ask_agent(kernel, agent, goal, name, base)
    files = touched_paths(patch)  # refuses unsafe patches before they reach the ledger
    payload = {
        "cartridge": name, "base_version": base["version"], "goal": goal.strip(), "reasoning": reasoning,
        "text": text, "author": by, "patch": patch, "patch_sha256": hashlib.sha256(patch.encode()).hexdigest(),
        "files": files,
    }
    agent_label = f"{by['kind']}:{by['who']}"
    return kernel.checkpoint("PROPOSAL", "evolve_propose", payload, corridor=CORRIDOR_PROPOSE, agent=agent_label)


def _ask_agent(kernel: Any, name: Optional[str], goal: str, cartridge: str, base: dict):
    """Ask an agent (through the kernel only) for a patch; never invents one when it cannot answer."""
    spec_name = name or kernel.default_name("agents", "agent")
    agent = kernel.agent(spec_name)
    readiness = agent.ready()
    if not readiness.ok:
        raise AgentError(f"agent {spec_name} is not ready: {readiness.reason}")
    files, tests = _tree_context(kernel, cartridge, base["version"])
    task = Task(goal=goal, context=f"cartridge {cartridge}@{base['version']}: answer with a unified diff "
                "(paths prefixed a/ and b/, relative to the cartridge root) and explain your reasoning",
                files=files, test_command=tests)
    proposal = agent.propose(task)
    if not proposal.patch:
        raise AgentError(f"agent {spec_name} answered without a patch, so there is nothing to build")
    reasoning = (proposal.reasoning or "").strip()
    if not reasoning:
        raise AgentError(f"agent {spec_name} gave no reasoning; proposals keep their reasoning (Genesis §10.4)")
    who = {"kind": "llm", "who": spec_name, "model": proposal.model}
    return proposal.patch, reasoning, proposal.text, who


def _tree_context(kernel: Any, cartridge: str, version: str) -> tuple[dict, tuple]:
    from pxos_cartridge.archive import open_archive

    from pxos_genesis.subject import registry

    archive = open_archive(registry(kernel).archive_path(cartridge, version))
    files, used = {}, 0
    for member in archive.names():
        if member.endswith(_CONTEXT_SUFFIXES) and used < _CONTEXT_BYTES:
            text = archive.read(member).decode("utf-8", "replace")
            files[member] = text
            used += len(text)
    command = ((archive.manifest or {}).get("tests") or {}).get("command") or ("python", "-m", "pytest", "-q")
    return files, tuple(command)


def load_proposal(kernel: Any, atom: str) -> dict:
    """The PROPOSAL record named ``atom``; NotFoundError for anything else."""
    record = kernel.ledger.find(atom)
    if record.get("type") != "PROPOSAL" or record.get("op") != "evolve_propose":
        raise NotFoundError(f"{atom} is a {record.get('type')} record, not an evolution proposal")
    return record


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
