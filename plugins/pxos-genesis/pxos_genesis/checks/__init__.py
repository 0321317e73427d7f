"""The machine checks behind the guardrails, by name (the ``check`` field of genesis.yaml).

A check is ``function(candidate, context) -> Outcome``. ``candidate`` is a
:class:`~pxos_genesis.subject.Candidate` or ``None`` (the whole world); checks
declared with ``cartridge=True`` are only called with a candidate. Modules
register their checks with :func:`check` when :func:`all_checks` imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

Location = Optional[str]


@dataclass
class Outcome:
    """What a check found: a status, the evidence, and each problem (message, location)."""

    status: str
    evidence: str
    problems: list[tuple[str, Location]] = field(default_factory=list)


def ok(evidence: str) -> Outcome:
    return Outcome("passed", evidence)


def bad(evidence: str, problems: list) -> Outcome:
    """A failed outcome; ``problems`` holds strings, (message, location) pairs or Findings."""
    pairs: list[tuple[str, Location]] = []
    for p in problems:
        if isinstance(p, tuple):
            pairs.append(p)
        elif hasattr(p, "location") and hasattr(p, "what"):
            pairs.append((p.what, p.location))
        else:
            pairs.append((str(p), None))
    return Outcome("failed", evidence, pairs or [(evidence, None)])


def unknown(evidence: str) -> Outcome:
    return Outcome("unchecked", evidence)


def judge(problems: list, evidence: str) -> Outcome:
    """Passed when there are no problems, else failed with them."""
    return bad(evidence, problems) if problems else ok(evidence)


@dataclass(frozen=True)
class Check:
    name: str
    function: Callable[[Any, Mapping[str, Any]], Outcome]
    cartridge: bool
    record: bool = False  # judges the registry record (provenance, tests): nothing to judge before registration


_CHECKS: dict[str, Check] = {}


def check(name: str, *, cartridge: bool = True, record: bool = False):
    """Register a check function under ``name`` (``cartridge=True``: it needs a cartridge to judge;
    ``record=True``: it judges the cartridge's registry record, which a system packed on the fly lacks)."""

    def register(function):
        if name in _CHECKS:
            raise ValueError(f"check {name!r} is defined twice")
        _CHECKS[name] = Check(name, function, cartridge, record)
        return function

    return register


def all_checks() -> dict[str, Check]:
    """Every check, importing the modules that define them on first use."""
    from pxos_genesis.checks import (  # noqa: F401
        archive, formats, gpu, hypervisor, intelligence, network, pixels, provenance, selfhosting, testing,
        weights)

    return _CHECKS


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
