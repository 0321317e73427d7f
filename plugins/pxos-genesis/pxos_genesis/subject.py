"""What a guardrail judges: a cartridge version, registered or still being built.

The kernel hands a guardrail whatever its caller passed: ``None`` (the whole
world), a cartridge name (``"greeter"`` or ``"greeter@1.0.1"``), a registry
record, or a :class:`Candidate` that the evolution pipeline is building.
:func:`resolve` turns all of these into one :class:`Candidate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Optional

from pxos_kernel import NotFoundError


@dataclass
class Candidate:
    """One cartridge version and what is known about it.

    ``record`` is the registry record (``None`` while a build is not yet
    registered; then ``planned`` holds the fields it will be registered with).
    ``tests`` is the result of its test run, when one happened.
    """

    name: str
    version: str
    archive_path: Path
    record: Optional[dict] = None
    planned: dict = field(default_factory=dict)
    tests: Optional[dict] = None
    proposal: Optional[dict] = None
    building: bool = False
    testing_now: bool = False  # judged from inside `cartridge test`, before its results are stored
    on_the_fly: bool = False   # the installed system, packed just for this report (never registered or tested)

    @cached_property
    def archive(self) -> Any:
        """The opened, fully verified archive (:class:`pxos_cartridge.archive.Archive`)."""
        from pxos_cartridge.archive import open_archive

        return open_archive(self.archive_path)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def field(self, key: str, default: Any = None) -> Any:
        """A provenance field: from the registry record, else from what the build plans to register."""
        if self.record is not None:
            return self.record.get(key, default)
        return self.planned.get(key, default)


def registry(kernel: Any) -> Any:
    """The cartridge registry of ``kernel`` (pxos-cartridge's public API)."""
    from pxos_cartridge.registry import CartridgeRegistry

    return CartridgeRegistry(kernel)


def memo(context: Mapping[str, Any], what: str) -> Optional[dict]:
    """A cache shared by the guardrails of one ``validate_genesis`` call (its context dict), if any.

    The kernel builds one context per call, so every guardrail judging a cartridge
    opens and scans its archive once, not once per guardrail.
    """
    if not isinstance(context, dict):
        return None
    return context.setdefault(f"_pxos_genesis_{what}", {})


def resolve(subject: Any, context: Mapping[str, Any]) -> Optional[Candidate]:
    """The cartridge a guardrail should judge, or ``None`` when it judges the world."""
    cache = memo(context, "candidates")
    key = subject if isinstance(subject, (str, type(None))) else id(subject)
    if cache is not None and key in cache:
        return cache[key]
    candidate = _resolve(subject, context)
    if cache is not None:
        cache[key] = candidate
    return candidate


def _resolve(subject: Any, context: Mapping[str, Any]) -> Optional[Candidate]:
    if isinstance(subject, Candidate):
        return subject
    kernel = context["kernel"]
    if subject is None:
        subject = context.get("cartridge")
        if subject is None:
            return current_system(kernel, context)
    if isinstance(subject, Mapping):
        if "name" not in subject or "version" not in subject:
            raise NotFoundError("guardrail subject is a mapping without 'name' and 'version'")
        subject = f"{subject['name']}@{subject['version']}"
    if not isinstance(subject, str):
        raise NotFoundError(f"guardrail subject {subject!r} is not a cartridge name")
    if "@" not in subject and context.get("version"):
        subject = f"{subject}@{context['version']}"
    reg = registry(kernel)
    record = reg.get(subject)
    candidate = Candidate(record["name"], record["version"], Path(reg.archive_path(record["name"], record["version"])),
                          record=record, tests=record.get("tests"))
    if context.get("tests") is not None:
        candidate.tests = context["tests"]
        candidate.testing_now = bool(context.get("archive"))  # a test run that hands over its own results
    elif candidate.tests is None and context.get("archive"):
        # Called from `cartridge test`: its sandboxed run just ended and its result is not stored yet.
        candidate.tests = _just_ran(kernel, str(context["archive"]))
        candidate.testing_now = True
    return candidate


def current_system(kernel: Any, context: Mapping[str, Any]) -> Candidate:
    """The system that runs: the system cartridge this process booted from, else the installed system
    packed on the fly into a temporary archive (kept for the report's lifetime)."""
    from pxos_kernel import booted_system

    from pxos_cartridge.world import SYSTEM

    system = booted_system()
    if system is not None:
        if system.get("version"):
            reg = registry(kernel)
            record = reg.get(SYSTEM, system["version"])
            return Candidate(SYSTEM, system["version"], Path(system["archive"]), record=record,
                             tests=record.get("tests"))
        return Candidate(SYSTEM, "unregistered", Path(system["archive"]), on_the_fly=True)
    import atexit
    import shutil
    import tempfile

    from pxos_cartridge.system import pack_system

    directory = tempfile.mkdtemp(prefix="pxos-genesis-system-")
    atexit.register(shutil.rmtree, directory, True)
    path = Path(directory) / "pxos.pxa"
    meta = pack_system(path, level=1)  # a temporary file: the payload is what is judged, not its compression
    return Candidate(SYSTEM, meta["cartridge"]["version"], path, on_the_fly=True)


def _just_ran(kernel: Any, archive: str) -> Optional[dict]:
    """The latest finished sandboxed run that tested ``archive``, as a test result, from the ledger."""
    found = None
    for record in kernel.ledger.records():
        payload = record.get("payload") or {}
        if record.get("type") == "RUN" and record.get("corridor", "").endswith("NODE_POST") and \
                ((payload.get("args") or [None])[0] == archive or payload.get("archive") == archive):
            found = record
    if found is None:
        return None
    p = found["payload"]
    return {"passed": p.get("status") == "ok" and p.get("exit_code") == 0, "status": p.get("status"),
            "exit_code": p.get("exit_code"), "run_id": found["id"], "command": [p.get("program")],
            "counts": {}}
