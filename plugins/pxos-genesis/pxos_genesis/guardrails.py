"""One kernel guardrail per MUST item of genesis.yaml.

Items with a machine check run it; items without one answer ``unchecked``
with the manifest's reason, so ``pxos-kernel genesis`` lists every MUST item
and never reports compliance that nobody checked.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from pxos_kernel import ConfigError, Guardrail, PxosError

if TYPE_CHECKING:  # imported when a guardrail runs, not on every CLI start
    from pxos_kernel import Verdict

    from pxos_genesis.principles import Item


def registrations() -> list[Guardrail]:
    """The guardrails, in manifest order.

    Registrations are data: the shipped manifest's MUST items come from
    :mod:`pxos_genesis.must_items`, and the YAML is parsed when a guardrail
    runs. Only a manifest named by ``PXOS_GENESIS`` is parsed here, so that
    its items are the ones registered.
    """
    if os.environ.get("PXOS_GENESIS"):
        from pxos_genesis.principles import must_items

        rows: Sequence[tuple[str, str, str]] = [(item.id, item.principle_id, item.text) for item in must_items()]
    else:
        from pxos_genesis.must_items import MUST_ITEMS as rows
    return [Guardrail(ident, _checker(ident), text, principle=principle) for ident, principle, text in rows]


def _checker(ident: str) -> Callable[[Any, Mapping[str, Any]], "Verdict"]:
    def check(subject: Any, context: Mapping[str, Any]) -> "Verdict":
        return run_item(_item(ident), subject, context)

    check.__qualname__ = f"genesis_{ident}"
    return check


def _item(ident: str) -> "Item":
    from pxos_genesis.principles import manifest_path, must_items

    for item in must_items():
        if item.id == ident:
            return item
    raise ConfigError(f"Genesis item {ident} is registered, but the manifest {manifest_path()} has no MUST item "
                      f"of that id (regenerate the table: python -m pxos_genesis.principles)")


def run_item(item: "Item", subject: Any, context: Mapping[str, Any]) -> "Verdict":
    """Judge ``subject`` against one MUST item."""
    from pxos_kernel import Verdict, Violation

    if item.check is None:
        return Verdict("unchecked", f"not machine-checkable: {item.why_unchecked}")
    from pxos_genesis.checks import all_checks
    from pxos_genesis.subject import resolve

    checks = all_checks()
    if item.check not in checks:
        raise ConfigError(f"Genesis item {item.id} names check {item.check!r}, which pxos-genesis does not have")
    spec = checks[item.check]
    whole_world = subject is None and context.get("cartridge") is None
    try:
        # Judging the world: checks of the whole registry see all of it; checks of one cartridge judge the
        # system that runs (pxos_genesis.subject.current_system).
        candidate = None if whole_world and not spec.cartridge else resolve(subject, context)
    except PxosError as exc:
        return Verdict("failed", f"the cartridge to judge could not be loaded: {exc}",
                       (Violation(item.id, str(exc), str(subject)),))
    if candidate is not None and candidate.on_the_fly and spec.record:
        from pxos_genesis.checks.testing import ON_THE_FLY

        return Verdict("unchecked", ON_THE_FLY)
    if spec.cartridge and candidate is None:
        return Verdict("unchecked", "judges a cartridge, and none was named "
                       "(run: pxos-kernel genesis --cartridge NAME)")
    try:
        outcome = spec.function(candidate, context)
    except ImportError as exc:  # the check needs a library this system does not carry (numpy in a pure system)
        from pxos_kernel import missing_module

        return Verdict("unchecked", f"{item.check} cannot run here: {missing_module(exc.name or '?')}")
    except PxosError as exc:  # e.g. a hostile or damaged archive: that is a finding, not a crash
        where = candidate.label if candidate is not None else None
        return Verdict("failed", f"{item.check} could not complete: {exc}", (Violation(item.id, str(exc), where),))
    violations = tuple(Violation(item.id, message, location) for message, location in outcome.problems)
    status: Any = outcome.status  # a check's status is one of Verdict's three
    return Verdict(status, outcome.evidence, violations if outcome.status == "failed" else ())
