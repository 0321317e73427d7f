"""Model cartridges: every version of every named model, its lineage, evaluation and promotion.

State lives in the engine's state directory (``$PXOS_HOME/inference/pixellm``)::

    registry.json            the records and the history of every attempt (rewritten atomically)
    registry.lock            held while the registry is read-modified-written (any number of processes)
    objects/ab/<sha>.pxi     model containers, content-addressed by the sha256 of the file; never deleted
    texts/ab/<sha>.txt       the held-out texts versions were evaluated on, so a child is judged on the
                             very bytes its parent was

A version records its parent, who made it and how (``convert``, ``train``,
``fine-tune``), the sha256 of its training data, its bits per byte on a named
held-out text, a generation smoke test, and its tokenizer. A version moves
``experimental`` -> ``current`` -> ``superseded``; the first version of a
name (one with no parent) is current as soon as it is registered. Every
transition, and every refused attempt, is appended to the history and written
to the ledger. Promotion of a version with a parent needs all of:

* its bits per byte on the parent's held-out text no worse than the parent's
  by more than the tolerance (``DEFAULT_TOLERANCE``, 1% relative);
* a passed generation smoke test;
* a human approver and a reason.

A registry file that cannot be parsed is refused and left exactly as it is.
The file, the lock, the store, the history and the one move of the current
pointer are the kernel's :class:`pxos_kernel.VersionRegistry`; the gates above
are the models' own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Optional

from pxos_kernel import (
    FormatError, IntegrityError, NotFoundError, PxosError, VersionRegistry, current_user, file_sha256)

FORMAT = "pxos-model-registry"
METHODS = ("convert", "train", "fine-tune")
MAKER_KINDS = ("human", "llm", "program")
DEFAULT_TOLERANCE = 0.01
SMOKE_PROMPT = "def "
SMOKE_TOKENS = 16
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
VERSION = VersionRegistry.VERSION
CORRIDOR = "DISTRICT_9.CHAMBER_MODEL.NODE_{}"
_now = VersionRegistry.timestamp


class RegistryError(PxosError):
    """A registry operation that cannot be done as asked (bad name, unknown parent, duplicate version)."""


class PromotionRefused(PxosError):
    """A promotion or rollback refused by one of the gates; the refusal is recorded first."""


class ModelRegistry(VersionRegistry):
    """The model registry under ``root`` (the pixellm engine's state directory). Safe across processes."""

    FORMAT, SECTION, NOUN, OBJECT, SUFFIX = FORMAT, "models", "model", "container", ".pxi"
    LEDGER = ("MODEL", CORRIDOR, "pxos-pixellm")
    Error, CorruptError, Refused = RegistryError, RegistryError, PromotionRefused

    def _log(self, data: dict, action: str, record: Mapping[str, Any], outcome: str, detail: str,
             **extra: Any) -> dict:
        return super()._log(data, action, record, outcome, detail, sha256=record["sha256"], **extra)

    def object_path(self, record: Mapping[str, Any]) -> Path:
        """The stored container of a version (present; its bytes are checked when it is read)."""
        return self._stored(record, verify=False)

    def verified_path(self, record: Mapping[str, Any]) -> Path:
        """The stored container of a version, checked against its sha256."""
        return self._stored(record)

    def text_path(self, sha256: str) -> Path:
        return self._content_path(sha256, "texts", ".txt")

    # -- transitions -------------------------------------------------------------------------------

    def register(self, source: Path, name: str, *, version: Optional[str] = None, parent: Optional[str] = None,
                 method: str = "convert", made_by: Optional[Mapping[str, str]] = None,
                 training_data: Optional[Path] = None, eval_text: Optional[Path] = None,
                 eval_name: Optional[str] = None, notes: str = "", extra: Optional[Mapping[str, Any]] = None) -> dict:
        """Validate ``source``, evaluate it, store it, and record it as a new version of ``name``.

        ``parent`` is ``NAME@VERSION`` (default for ``fine-tune``: the name's current version).
        ``eval_text`` is the held-out text (default: the parent's, else the shipped held-out text).
        """
        from .container import open_model

        if not NAME.match(name or ""):
            raise RegistryError(f"model name {name!r} is invalid (lowercase letters, digits, '-', '_', '.')")
        if method not in METHODS:
            raise RegistryError(f"method {method!r} must be one of {', '.join(METHODS)}")
        made_by = dict(made_by or {"kind": "human", "who": current_user()})
        if made_by.get("kind") not in MAKER_KINDS or not str(made_by.get("who") or "").strip():
            raise RegistryError(f"maker {made_by!r} needs a kind ({', '.join(MAKER_KINDS)}) and a non-empty who")
        source = Path(source)
        opened = open_model(source, verify=True)  # refuses anything that is not a whole, valid model
        sha = file_sha256(source)
        data_record = _file_record(training_data, "training data") if training_data else None
        parent_record = None
        data = self._load()
        if parent is None and method == "fine-tune" and name in data["models"]:
            parent = f"{name}@{self._record(data, name)['version']}"
        if parent is not None:
            parent_record = self._record(data, parent if "@" in parent else f"{name}@{parent}")
        if version is not None and version in (data["models"].get(name) or {}).get("versions", {}):
            raise RegistryError(f"{name}@{version} is already registered; registered versions are never replaced")
        text, text_name = self._eval_text(eval_text, eval_name, parent_record)
        evaluation = evaluate_container(source, text)
        evaluation["text"], evaluation["text_name"] = text["sha256"], text_name
        smoke = smoke_test(source)
        stored = self._store(source, sha)
        with self._transaction() as data:
            entry = self._entry(data, name, create=True)
            versions = entry["versions"]
            version = str(version or f"v{len(versions) + 1}")
            self._check_new_version(entry, name, version)
            tokenizer = opened.tokenizer()
            record = {
                "name": name, "version": version,
                "parent": None if parent_record is None else f"{parent_record['name']}@{parent_record['version']}",
                "generation": 0 if parent_record is None else parent_record["generation"] + 1,
                "method": method, "made_by": made_by, "created": _now(), "notes": notes,
                "sha256": sha, "payload_sha256": opened.sha256, "size": stored.stat().st_size,
                "architecture": opened.config.architecture, "parameters": sum(e.count for e in opened.tensors),
                "tokenizer": (tokenizer.describe() if tokenizer is not None else {"kind": "none"})
                | ({"sha256": opened.tokenizer_section.get("sha256")} if opened.tokenizer_section.get("sha256") else {}),
                "training_data": data_record, "eval": evaluation, "smoke": smoke, "status": "experimental",
                "promoted": None, **dict(extra or {}),
            }
            versions[version] = record
            detail = (f"registered ({method}), {evaluation['bits_per_byte']:.4f} bits/byte on {text_name}, "
                      f"smoke test {'passed' if smoke['passed'] else 'failed: ' + smoke['detail']}")
            self._log(data, "register", record, "done", detail, method=method, parent=record["parent"])
            if parent_record is None and entry["current"] is None:
                record["status"] = "current"
                record["promoted"] = {"by": made_by["who"], "kind": made_by["kind"], "at": _now(),
                                      "reason": "the first version of a model", "action": "register"}
                entry["current"] = version
                self._log(data, "promote", record, "done", "the first version of a model is current")
        return record

    def _eval_text(self, eval_text: Optional[Path], eval_name: Optional[str],
                   parent: Optional[Mapping[str, Any]]) -> tuple[dict, str]:
        """The held-out text (stored in the registry so children are judged on the same bytes) and its name."""
        if eval_text is None and parent is not None and parent.get("eval"):
            sha = parent["eval"]["text"]
            path = self.text_path(sha)
            if not path.is_file() or file_sha256(path) != sha:
                raise IntegrityError(f"the held-out text of {parent['name']}@{parent['version']} is missing or "
                                     f"damaged at {path}")
            return {"path": path, "sha256": sha}, parent["eval"]["text_name"]
        if eval_text is None:
            from .engine import shipped_held_out_path

            eval_text, eval_name = shipped_held_out_path(), eval_name or "shipped held-out stdlib text"
        record = _file_record(Path(eval_text), "held-out text")
        self._store(Path(eval_text), record["sha256"], "texts", ".txt")
        return {"path": self.text_path(record["sha256"]), "sha256": record["sha256"]}, \
            eval_name or Path(eval_text).name

    def promote(self, ref: str, *, approved_by: str, reason: str, approver_kind: str = "human",
                tolerance: float = DEFAULT_TOLERANCE) -> dict:
        """Make a version current, if every gate passes; a refusal is recorded, then raised as PromotionRefused."""
        return self._make_current("promote", ref, None, approved_by=approved_by, reason=reason,
                                  approver_kind=approver_kind,
                                  refusal=lambda data, record, _: self._refusal(data, record, approver_kind, tolerance))

    def rollback(self, name: str, to: Optional[str] = None, *, approved_by: str, reason: str,
                 approver_kind: str = "human") -> dict:
        """Make an earlier version current again (default: the one current before)."""
        return self._make_current("rollback", name, to, approved_by=approved_by, reason=reason,
                                  approver_kind=approver_kind,
                                  refusal=lambda data, record, _: self._refusal(data, record, approver_kind, None))

    def _refusal(self, data: dict, record: dict, approver_kind: str, tolerance: Optional[float]) -> Optional[str]:
        """Why ``record`` may not become current, or None when every gate passes (its bytes are checked after)."""
        if approver_kind != "human":
            return "a model version becomes current only with a human's approval (--approver-kind human)"
        if not (record.get("smoke") or {}).get("passed"):
            return f"its generation smoke test failed ({(record.get('smoke') or {}).get('detail', 'not run')})"
        if tolerance is None or record["parent"] is None:
            return None  # a rollback returns to a version that was current before; a root has nothing to beat
        parent = self._record(data, record["parent"])
        ours, theirs = record.get("eval"), parent.get("eval")
        if not ours or not theirs or ours["text"] != theirs["text"]:
            return f"it was not evaluated on its parent's held-out text ({theirs and theirs['text_name']})"
        limit = theirs["bits_per_byte"] * (1 + tolerance)
        if ours["bits_per_byte"] > limit:
            return (f"held-out bits/byte regress: {ours['bits_per_byte']:.4f} against the parent "
                    f"{parent['name']}@{parent['version']}'s {theirs['bits_per_byte']:.4f} on {theirs['text_name']} "
                    f"(tolerance {tolerance:.1%}: at most {limit:.4f})")
        return None

    def resolve(self, ref: str) -> Path:
        """The stored container of ``NAME`` (its current version) or ``NAME@VERSION``, checked."""
        return self.object_path(self.get(ref))


def _file_record(path: Path, what: str) -> dict:
    if not path.is_file():
        raise NotFoundError(f"{what} {path}: no such file")
    return {"path": str(path), "sha256": file_sha256(path), "bytes": path.stat().st_size}


def evaluate_container(path: Path, text: Mapping[str, Any]) -> dict:
    """Bits per byte of the stored model on the held-out text (at most its first 64 KiB)."""
    from .container import open_model
    from .evaluate import model_bits
    from .model import build_transformer

    data = Path(text["path"]).read_bytes()[:65536]
    opened = open_model(path)
    model = build_transformer(opened, where=str(path))
    tokenizer = opened.tokenizer()
    if tokenizer is None:
        raise FormatError(f"{path}: a model without a tokenizer cannot be evaluated on text, so it cannot be "
                          "registered (convert it with its tokenizer)")
    return {"bits_per_byte": round(model_bits(model, data, tokenizer) / len(data), 6), "bytes": len(data)}


def smoke_test(path: Path) -> dict:
    """Greedy generation of a few tokens must run and give finite logits and some text."""
    import numpy as np

    from .container import open_model
    from .generation import generate
    from .model import build_transformer

    try:
        opened = open_model(path)
        model = build_transformer(opened, where=str(path))
        tokenizer = opened.tokenizer()
        logits = model.forward(tokenizer.encode(SMOKE_PROMPT))
        if not np.all(np.isfinite(logits)):
            return {"passed": False, "detail": "the logits hold NaN or infinity", "prompt": SMOKE_PROMPT}
        pieces = list(generate(model, SMOKE_PROMPT, tokenizer=tokenizer, max_tokens=SMOKE_TOKENS, temperature=0))
    except PxosError as exc:
        return {"passed": False, "detail": str(exc), "prompt": SMOKE_PROMPT}
    text = "".join(p.text for p in pieces)
    tokens = sum(p.tokens for p in pieces)
    passed = tokens > 0
    return {"passed": passed, "detail": f"{tokens} tokens" if passed else "generated nothing",
            "prompt": SMOKE_PROMPT, "text": text[:200]}


split_ref = ModelRegistry.split_ref
