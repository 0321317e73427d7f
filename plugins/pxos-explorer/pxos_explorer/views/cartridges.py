"""The cartridges view: lineage, manifests, test results, genesis reports, diffs, promote and rollback.

Everything is pxos-cartridge's documented registry
(:class:`pxos_cartridge.registry.CartridgeRegistry`) and archive reader
(:func:`pxos_cartridge.archive.open_archive`). Promote and rollback call the
registry's own ``promote``/``rollback``, so they pass the same checks and write
the same history and ledger records as the command line; the person's name and
reason are required. Each request also says which version it saw as current:
when two browsers promote at once, the registry's lock orders them and the
second is refused because the current version is no longer the one it saw.
"""

from __future__ import annotations

import difflib
import json
import threading
from typing import Any, Optional

from pxos_kernel import NotFoundError, PxosError

from pxos_explorer.http import HttpError, Request, Route, json_response

MAX_DIFF_LINES = 400
MAX_DIFF_MEMBER = 256 << 10


class CartridgesView:
    """``/cartridges`` and ``/api/cartridges/...``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.kernel = app.kernel
        self._transition = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/cartridges", page=True),
            Route("GET", "/cartridges/{name}", page=True),
            Route("GET", "/api/cartridges", self.cartridges),
            Route("GET", "/api/cartridges/{name}", self.cartridge),
            Route("GET", "/api/cartridges/{name}/diff", self.diff),
            Route("GET", "/api/cartridges/{name}/versions/{version}", self.version),
            Route("POST", "/api/cartridges/{name}/versions/{version}/test", self.test),
            Route("POST", "/api/cartridges/{name}/promote", self.promote),
            Route("POST", "/api/cartridges/{name}/rollback", self.rollback),
        ]

    @property
    def registry(self) -> Any:
        try:
            from pxos_cartridge.registry import CartridgeRegistry
        except ImportError:
            raise HttpError(404, "pxos-cartridge is not installed, so there are no cartridges to show "
                            "(pip install ./plugins/pxos-cartridge)") from None
        return CartridgeRegistry(self.kernel)

    # -- reading ----------------------------------------------------------------------------------

    def cartridges(self, request: Request) -> Any:
        """Every cartridge with its versions (newest last) and the latest registry transitions."""
        registry = self.registry
        by_name: dict[str, dict] = {}
        for record in registry.list():
            entry = by_name.setdefault(record["name"], {"name": record["name"], "current": None, "versions": []})
            entry["versions"].append(_summary(record))
            if record["status"] == "current":
                entry["current"] = record["version"]
        return json_response({"cartridges": list(by_name.values()), "history": registry.history()[-50:][::-1]})

    def cartridge(self, request: Request) -> Any:
        """One cartridge: its versions as a lineage graph (nodes and parent edges) and its history."""
        registry = self.registry
        name = request.params["name"]
        records = registry.list(name)
        current = registry.current(name)
        nodes = [_summary(r) for r in records]
        edges = [{"from": r["parent"], "to": r["version"]} for r in records if r["parent"] is not None]
        return json_response({"name": name, "current": current["version"] if current else None,
                              "nodes": nodes, "edges": edges, "history": registry.history(name)[::-1]})

    def version(self, request: Request) -> Any:
        """One version: its record (manifest, tests, guardrail report, promotion), members and lineage."""
        registry = self.registry
        name, version = request.params["name"], request.params["version"]
        record = registry.get(name, version)
        members, problem = [], None
        try:
            archive = self._archive(registry, name, version)
            members = [{"path": m.path, "size": m.size, "sha256": m.sha256, "mode": m.mode}
                       for m in archive.members.values()]
        except PxosError as exc:
            problem = str(exc)
        return json_response({"record": record, "members": members, "archive_problem": problem,
                              "lineage": [r["version"] for r in registry.lineage(name, version)]})

    def _archive(self, registry: Any, name: str, version: str) -> Any:
        from pxos_cartridge.archive import open_archive

        return open_archive(registry.archive_path(name, version))

    def diff(self, request: Request) -> Any:
        """``?a=VERSION&b=VERSION``: what changed in the manifest and in each member between two versions."""
        registry = self.registry
        name = request.params["name"]
        a, b = request.arg("a"), request.arg("b")
        if not a or not b:
            raise HttpError(400, "a diff needs two versions: ?a=VERSION&b=VERSION")
        left, right = registry.get(name, a), registry.get(name, b)
        old, new = self._archive(registry, name, a), self._archive(registry, name, b)
        changes = []
        for path in sorted(set(old.members) | set(new.members)):
            before, after = old.members.get(path), new.members.get(path)
            if before is not None and after is not None and before.sha256 == after.sha256:
                continue
            status = "added" if before is None else "removed" if after is None else "changed"
            change: dict = {"path": path, "status": status, "before": before.size if before else None,
                            "after": after.size if after else None}
            text = _text_diff(old, new, path, before, after)
            if text is not None:
                change["diff"] = text
            changes.append(change)
        manifest = list(difflib.unified_diff(_lines(left["manifest"]), _lines(right["manifest"]),
                                             f"{name}@{a}/manifest", f"{name}@{b}/manifest", lineterm=""))
        return json_response({"name": name, "a": a, "b": b, "manifest": manifest, "members": changes,
                              "unchanged": len(set(old.members) & set(new.members)) - sum(
                                  1 for c in changes if c["status"] == "changed")})

    # -- transitions -------------------------------------------------------------------------------

    def test(self, request: Request) -> Any:
        """Run the version's own tests in the sandbox, and every guardrail (``cartridge test``)."""
        record = self.registry.test(request.params["name"], request.params["version"])
        return json_response({"record": record})

    def promote(self, request: Request) -> Any:
        """``{"version", "approved_by", "reason", "expected_current"}`` -> the promoted record."""
        return self._transition_to("promote", request)

    def rollback(self, request: Request) -> Any:
        """``{"version" (optional: the one current before), "approved_by", "reason", "expected_current"}``."""
        return self._transition_to("rollback", request)

    def _transition_to(self, action: str, request: Request) -> Any:
        body = request.json()
        name = request.params["name"]
        version = _text(body.get("version"))
        approved_by, reason = _text(body.get("approved_by")), _text(body.get("reason"))
        if not approved_by:
            raise HttpError(400, f"{action} of {name} needs the name of the person who approves it")
        if not reason:
            raise HttpError(400, f"{action} of {name} needs a reason")
        if action == "promote" and not version:
            raise HttpError(400, f"promote of {name} needs the version to promote")
        registry = self.registry
        with self._transition:  # browsers of this explorer one at a time; the registry's lock does the rest
            if "expected_current" in body:
                current = registry.current(name)
                now = current["version"] if current else None
                if now != (body.get("expected_current") or None):
                    raise HttpError(409, f"{action} of {name} refused: the current version is now "
                                    f"{now or 'none'}, not {body.get('expected_current') or 'none'} as this page "
                                    "showed (somebody else changed it); reload and decide again")
            if action == "promote":
                record = registry.promote(name, version, approved_by=approved_by, reason=reason)
            else:
                record = registry.rollback(name, version or None, approved_by=approved_by, reason=reason)
        entry = next((h for h in reversed(registry.history(name)) if h["action"] == action), None)
        return json_response({"record": _summary(record), "history": entry})


def _summary(record: dict) -> dict:
    tests = record.get("tests") or None
    return {
        "name": record["name"], "version": record["version"], "parent": record.get("parent"),
        "generation": record.get("generation"), "status": record.get("status"), "created": record.get("created"),
        "builder": record.get("builder"), "breaking": record.get("breaking"), "notes": record.get("notes"),
        "sha256": record.get("sha256"), "size": record.get("size"), "promoted": record.get("promoted"),
        "tests": None if tests is None else {"passed": tests.get("passed"), "status": tests.get("status"),
                                             "counts": tests.get("counts"), "ran_at": tests.get("ran_at")},
    }


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _lines(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()


def _text_diff(old: Any, new: Any, path: str, before: Any, after: Any) -> Optional[list[str]]:
    """A unified diff of a text member (None for binary or very large members)."""
    sizes = [m.size for m in (before, after) if m is not None]
    if any(size > MAX_DIFF_MEMBER for size in sizes):
        return None
    try:
        a = old.read(path).decode("utf-8").splitlines() if before is not None else []
        b = new.read(path).decode("utf-8").splitlines() if after is not None else []
    except (UnicodeDecodeError, NotFoundError):
        return None
    lines = list(difflib.unified_diff(a, b, f"a/{path}", f"b/{path}", lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"... {len(lines) - MAX_DIFF_LINES} more lines"]
    return lines
