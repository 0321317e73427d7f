"""``genesis``: every registered guardrail's verdict on a subject, gathered into one report."""

from __future__ import annotations

from typing import Any, Optional


def validate_genesis(kernel: Any, subject: Any = None, context: Optional[dict] = None) -> dict:
    """Run every registered guardrail against ``subject`` (``None``: the current world)."""
    guardrails = kernel.registry("guardrail")
    for conflict in guardrails.conflicts.values():  # a guardrail two plugins claim cannot be judged by either
        raise conflict
    ctx = {"kernel": kernel, **(context or {})}
    items = []
    for name in guardrails:
        rail = guardrails.get(name)
        try:
            verdict = rail.check(subject, ctx)
            status, evidence = verdict.status, verdict.evidence
            violations = [v.message for v in verdict.violations]
        except Exception as exc:
            status, evidence, violations = "failed", f"the check itself raised {type(exc).__name__}: {exc}", []
        items.append({"id": rail.id, "principle": rail.principle, "text": rail.summary, "status": status,
                      "evidence": evidence, "violations": violations, "plugin": guardrails.owner(name)})
    counts = {s: sum(1 for i in items if i["status"] == s) for s in ("passed", "failed", "unchecked")}
    return {"items": items, "counts": counts, "guardrails": len(items),
            "compliant": bool(items) and counts["failed"] == 0 and counts["unchecked"] == 0}
