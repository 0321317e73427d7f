"""``evolve propose``: a change to a cartridge, from a human patch, an agent or a coached task, in the ledger.

The ledger record *is* the proposal: its ATOM id names it, and its payload
keeps, under the ledger's hash chain (Genesis §7.3, §10.4):

* ``goal``: what the change should achieve;
* ``builder``: ``{"kind": "human" | "llm", "who": NAME}`` (and ``model``);
* ``reasoning``: the human's reason, or the agent's reasoning exactly as the
  model returned it (never a summary written by pxOS);
* ``patch`` (with ``patch_sha256``) and the ``files`` it touches;
* ``cartridge`` and ``parent``: the version the patch was made against;
* ``source``: where it came from (a patch file, an agent, a coached task).

Proposing judges nothing about the patch beyond reading it: a malformed or
unsafe diff, or one against files the cartridge does not have, is recorded
all the same and its build fails with the reason, so the failed experiment
is kept (Genesis §3). Only bad *input* is refused here: an empty goal, a
patch file that cannot be read, an unknown parent version.
"""

from __future__ import annotations

import getpass
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from pxos_kernel import AgentError, NotFoundError, PxosError, Task, UsageError

from pxos_genesis.evolve import CORRIDOR_PROPOSE
from pxos_genesis.evolve.patches import PatchError, touched_paths

#: Source files an agent is shown when no ``--file`` is named (text only, bounded so a prompt stays small).
_CONTEXT_SUFFIXES = (".py", ".yaml", ".yml", ".md", ".txt", ".toml", ".cfg")
_CONTEXT_BYTES = 64 * 1024
BUILDER_KINDS = ("human", "llm")


class CorruptProposal(PxosError):
    """A PROPOSAL record in the ledger does not hold a proposal this pipeline can read."""


@dataclass(frozen=True)
class ProposalRecord:
    """One proposal as read back from its ledger record (validated field by field)."""

    id: str
    cartridge: str
    parent: str
    goal: str
    builder: Mapping[str, str]
    reasoning: str
    patch: str
    files: tuple[str, ...]
    text: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)
    ts: str = ""

    @property
    def by(self) -> str:
        return f"{self.builder['kind']}:{self.builder['who']}"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "ProposalRecord":
        """Read ``record``; CorruptProposal names the first field that is missing or wrong."""
        atom = str(record.get("id") or "?")
        p = record.get("payload")

        def bad(problem: str) -> CorruptProposal:
            return CorruptProposal(f"proposal {atom} is corrupt: {problem} (the ledger keeps it as it is; "
                                   "it cannot be built)")

        if not isinstance(p, Mapping):
            raise bad("its payload is not a mapping")
        # Records written before the builder/parent names were settled used author/base_version.
        builder = p.get("builder", p.get("author"))
        parent = p.get("parent", p.get("base_version"))
        for key, value in (("cartridge", p.get("cartridge")), ("parent", parent), ("goal", p.get("goal"))):
            if not isinstance(value, str) or not value.strip():
                raise bad(f"{key} is missing or not a non-empty string")
        if not isinstance(builder, Mapping) or builder.get("kind") not in BUILDER_KINDS \
                or not isinstance(builder.get("who"), str) or not builder["who"].strip():
            raise bad(f"builder {builder!r} is not {{kind: human|llm, who: NAME}}")
        for key in ("reasoning", "patch"):
            if not isinstance(p.get(key), str):
                raise bad(f"{key} is missing or not a string")
        if p.get("patch_sha256") not in (None, hashlib.sha256(p["patch"].encode("utf-8")).hexdigest()):
            raise bad("its patch does not match the patch_sha256 recorded with it")
        files = p.get("files", [])
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise bad("files is not a list of paths")
        source = p.get("source") or {}
        if not isinstance(source, Mapping):
            raise bad("source is not a mapping")
        return cls(atom, p["cartridge"], parent, p["goal"], dict(builder), p["reasoning"], p["patch"], tuple(files),
                   str(p.get("text") or ""), dict(source), str(record.get("ts") or ""))


def target_cartridge(kernel: Any, name: Optional[str]) -> str:
    """The cartridge a proposal changes: ``name``, else config ``genesis.cartridge``, else the system itself."""
    name = name or kernel.section("genesis").get("cartridge")
    if name:
        return name
    try:
        from pxos_cartridge.world import SYSTEM
    except ImportError:
        raise PxosError("no cartridge to evolve: pass --cartridge NAME (or set genesis.cartridge in config.yaml)"
                        ) from None
    return SYSTEM


def parent_record(kernel: Any, name: str, version: Optional[str] = None) -> dict:
    """The registry record a proposal is made against: ``version``, else the current one, else the latest."""
    from pxos_genesis.subject import registry

    reg = registry(kernel)
    if version is None:
        return reg.get(name)
    known = [r["version"] for r in reg.list(name)]
    if version not in known:
        raise NotFoundError(f"unknown parent version {name}@{version} (registered: {', '.join(known) or 'none'})")
    return reg.get(name, version)


def propose(kernel: Any, *, goal: str = "", cartridge: Optional[str] = None, parent: Optional[str] = None,
            agent: Optional[str] = None, patch_file: Optional[str] = None, reason: str = "",
            author: Optional[str] = None, from_task: Optional[int] = None, files: Sequence[str] = ()) -> dict:
    """Record a proposal and return its ledger record (``record["id"]`` names it)."""
    sources = [s for s in (patch_file is not None, agent is not None, from_task is not None) if s]
    if len(sources) > 1:
        raise PxosError("give one of --patch, --agent or --from-task")
    name = target_cartridge(kernel, cartridge)
    base = parent_record(kernel, name, parent)
    if from_task is not None:
        patch, reasoning, text, by, source, task_goal = _from_task(kernel, from_task)
        goal = goal or task_goal
    elif patch_file is not None:
        if not reason.strip():
            raise PxosError("a human patch needs --reason: the reasoning is kept in the ledger (Genesis §7.3)")
        try:
            patch = Path(patch_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise NotFoundError(f"patch file {patch_file}: cannot read it as text ({exc})") from None
        reasoning, text = reason.strip(), ""
        by = {"kind": "human", "who": author or _user()}
        source = {"kind": "patch-file", "path": str(Path(patch_file).absolute())}
    else:
        if not goal.strip():
            raise UsageError("--goal is empty: say what the change should achieve")
        patch, reasoning, text, by, source = _ask_agent(kernel, agent, goal, name, base, files)
    if not goal.strip():
        raise UsageError("--goal is empty: say what the change should achieve")
    if source["kind"] != "agent":
        patch, source = _in_member_paths(kernel, name, base, patch, source)
    try:
        touched = touched_paths(patch)
    except PatchError:
        touched = []  # recorded all the same: its build fails with the reason and keeps it
    payload = {
        "cartridge": name, "parent": base["version"], "goal": goal.strip(), "builder": by, "reasoning": reasoning,
        "text": text, "patch": patch, "patch_sha256": hashlib.sha256(patch.encode("utf-8")).hexdigest(),
        "files": touched, "source": source,
    }
    return kernel.checkpoint("PROPOSAL", "evolve_propose", payload, corridor=CORRIDOR_PROPOSE,
                             agent=f"{by['kind']}:{by['who']}")


def _in_member_paths(kernel: Any, cartridge: str, base: dict, patch: str, source: dict) -> tuple[str, dict]:
    """A patch made in a checkout of the repository, its paths mapped to the system cartridge's members."""
    from pxos_genesis.evolve.system import is_system
    from pxos_genesis.evolve.translate import translate_patch

    if not is_system(kernel, cartridge):
        return patch, source
    from pxos_cartridge.archive import open_archive

    from pxos_genesis.subject import registry

    members = open_archive(registry(kernel).archive_path(cartridge, base["version"])).names()
    translated, mapping = translate_patch(patch, members)
    if not mapping:
        return patch, source
    return translated, {**source, "paths_mapped": mapping, "patch_as_given_sha256":
                        hashlib.sha256(patch.encode("utf-8")).hexdigest()}


def _ask_agent(kernel: Any, name: Optional[str], goal: str, cartridge: str, base: dict, files: Sequence[str]):
    """Ask an agent (through the kernel only) for a patch; never invents one when it cannot answer."""
    spec_name = name or kernel.default_name("agent")
    agent = kernel.agent(spec_name)
    readiness = agent.ready()
    if not readiness.ok:
        raise AgentError(f"agent {spec_name} is not ready: {readiness.reason}")
    shown, tests = _tree_context(kernel, cartridge, base["version"], files)
    task = Task(goal=goal, context=f"cartridge {cartridge}@{base['version']}: answer with a unified diff "
                "(paths prefixed a/ and b/, relative to the cartridge root) and explain your reasoning",
                files=shown, test_command=tests)
    answer = agent.propose(task)
    by = {"kind": "llm", "who": spec_name, "model": answer.model}
    source = {"kind": "agent", "agent": spec_name, "files_shown": sorted(shown),
              "how": str(answer.meta.get("how") or ""), "prompt_digest": answer.meta.get("prompt_digest")}
    return answer.patch or "", answer.reasoning or "", answer.text, by, source


def _from_task(kernel: Any, task_id: int):
    """The proposal the coach accepted for queue task ``task_id`` (pxos-agents' public API)."""
    try:
        from pxos_agents import accepted_proposal
    except ImportError:
        raise PxosError("--from-task needs pxos-agents, which keeps the coach's tasks "
                        "(pip install pxos-genesis[agents])") from None
    answer = accepted_proposal(kernel, task_id)
    by = {"kind": "llm", "who": answer.agent, "model": answer.model}
    source = {"kind": "task", "task": task_id, "memory": answer.meta.get("memory"), "score": answer.meta.get("score")}
    return answer.patch or "", answer.reasoning or "", answer.text, by, source, str(answer.meta.get("goal") or "")


def _tree_context(kernel: Any, cartridge: str, version: str, chosen: Sequence[str]) -> tuple[dict, tuple]:
    """The files an agent is shown: those named, else every text file while the whole stays small."""
    from pxos_cartridge.archive import open_archive

    from pxos_genesis.subject import registry

    archive = open_archive(registry(kernel).archive_path(cartridge, version))
    names = archive.names()
    if chosen:
        missing = [p for p in chosen if p not in names]
        if missing:
            raise NotFoundError(f"{cartridge}@{version} has no file {missing[0]} (--file names cartridge paths, "
                                "e.g. as 'cartridge ls' shows them)")
        picked = list(chosen)
    else:
        picked = [m for m in names if m.endswith(_CONTEXT_SUFFIXES)]
        size = sum(len(archive.read(m)) for m in picked)
        if size > _CONTEXT_BYTES:
            raise PxosError(f"{cartridge}@{version} has {len(picked)} text files ({size // 1024} KiB), too many to "
                            "show an agent: name the files to work on with --file PATH")
    files = {m: archive.read(m).decode("utf-8", "replace") for m in picked}
    command = ((archive.manifest or {}).get("tests") or {}).get("command") or ("python", "-m", "pytest", "-q")
    return files, tuple(command)


def load_proposal(kernel: Any, atom: str) -> ProposalRecord:
    """The proposal named ``atom``: NotFoundError for another kind of record, CorruptProposal for a bad one."""
    record = kernel.ledger.find(atom)
    if record.get("type") != "PROPOSAL" or record.get("op") != "evolve_propose":
        raise NotFoundError(f"{atom} is a {record.get('type')} record, not an evolution proposal")
    return ProposalRecord.from_record(record)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in a container
        return "unknown"
