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
"""

from __future__ import annotations

import builtins
import contextlib
import getpass
import hashlib
import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from pxos_kernel import FormatError, IntegrityError, NotFoundError, PxosError, atomic_write, atomic_writer

FORMAT = "pxos-model-registry"
METHODS = ("convert", "train", "fine-tune")
MAKER_KINDS = ("human", "llm", "program")
DEFAULT_TOLERANCE = 0.01
SMOKE_PROMPT = "def "
SMOKE_TOKENS = 16
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
CORRIDOR = "DISTRICT_9.CHAMBER_MODEL.NODE_{}"


class RegistryError(PxosError):
    """A registry operation that cannot be done as asked (bad name, unknown parent, duplicate version)."""


class PromotionRefused(PxosError):
    """A promotion or rollback refused by one of the gates; the refusal is recorded first."""


def split_ref(ref: str) -> tuple[str, Optional[str]]:
    """``"coder@v2"`` -> ``("coder", "v2")``; ``"coder"`` -> ``("coder", None)``."""
    name, _, version = ref.partition("@")
    return name, version or None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in a container: still a human, say so
        return os.environ.get("USER") or "unknown"


class ModelRegistry:
    """The model registry under ``root`` (the pixellm engine's state directory). Safe across processes."""

    def __init__(self, root: Path, kernel: Any = None) -> None:
        self.root = Path(root)
        self.kernel = kernel
        self.path = self.root / "registry.json"

    # -- storage ---------------------------------------------------------------------------------

    def _load(self) -> dict:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"format": FORMAT, "version": 1, "models": {}, "history": []}
        except OSError as exc:
            raise RegistryError(f"model registry {self.path}: cannot read it ({exc.strerror})") from None
        problem: Optional[str]
        try:
            data = json.loads(text)
        except ValueError as exc:
            data, problem = None, f"not valid JSON: {exc}"
        else:
            problem = None
            if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
                problem = f"not a {FORMAT} version 1 file"
            elif not isinstance(data.get("models"), dict) or not isinstance(data.get("history"), list):
                problem = "missing its models or history"
        if problem:
            raise RegistryError(f"model registry {self.path} is corrupt ({problem}); it was left untouched: "
                                "restore it from a backup or move it aside")
        return data

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[dict]:
        """Hold the lock, yield the registry, write it back atomically if the body succeeds."""
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / "registry.lock")):
            data = self._load()
            yield data
            atomic_write(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8"))

    def _log(self, data: dict, action: str, record: Mapping[str, Any], outcome: str, detail: str,
             **extra: Any) -> None:
        payload = {"name": record["name"], "version": record["version"], "sha256": record["sha256"],
                   "outcome": outcome, "detail": detail, **extra}
        ledger_id = None
        if self.kernel is not None:
            ledger_id = self.kernel.checkpoint("MODEL", action, payload, corridor=CORRIDOR.format(action.upper()),
                                               agent="pxos-pixellm")["id"]
        data["history"].append({"at": _now(), "action": action, **payload, "ledger_id": ledger_id})

    def _store(self, kind: str, source: Path, sha256: str, suffix: str) -> Path:
        target = self.root / kind / sha256[:2] / f"{sha256}{suffix}"
        if target.exists():
            if file_sha256(target) != sha256:
                raise IntegrityError(f"stored {target} no longer matches its sha256: the store is damaged")
            return target
        with open(source, "rb") as src, atomic_writer(target, 0o444) as out:
            shutil.copyfileobj(src, out, 1 << 20)
        if file_sha256(target) != sha256:
            raise IntegrityError(f"{source} changed while it was being stored; register it again")
        return target

    # -- queries -----------------------------------------------------------------------------------

    def _entry(self, data: dict, name: str) -> dict:
        entry = data["models"].get(name)
        if entry is None:
            known = ", ".join(sorted(data["models"])) or "none"
            raise NotFoundError(f"no model named {name!r} in the registry (registered: {known})")
        return entry

    def _record(self, data: dict, ref: str) -> dict:
        name, version = split_ref(ref)
        entry = self._entry(data, name)
        if version is None:
            version = entry.get("current")
            if version is None:
                raise NotFoundError(f"model {name!r} has no current version (promote one, or name one of "
                                    f"{', '.join(entry['versions'])} as {name}@VERSION)")
        record = entry["versions"].get(version)
        if record is None:
            raise NotFoundError(f"model {name!r} has no version {version!r} (versions: {', '.join(entry['versions'])})")
        return record

    def names(self) -> builtins.list[str]:
        return sorted(self._load()["models"])

    def get(self, ref: str) -> dict:
        """One version's record: ``NAME`` (its current version) or ``NAME@VERSION``."""
        return self._record(self._load(), ref)

    def has(self, ref: str) -> bool:
        return split_ref(ref)[0] in self._load()["models"]

    def list(self, name: Optional[str] = None) -> builtins.list[dict]:
        models = self._load()["models"]
        if name is not None and name not in models:
            raise NotFoundError(f"no model named {name!r} in the registry")
        return [record for key in sorted(models) if name in (None, key) for record in models[key]["versions"].values()]

    def lineage(self, ref: str) -> builtins.list[dict]:
        """The version's ancestors by parent, root first, the version itself last."""
        data = self._load()
        chain = [self._record(data, ref)]
        while chain[-1]["parent"] is not None:
            if len(chain) > sum(len(e["versions"]) for e in data["models"].values()):
                raise RegistryError(f"model registry {self.path}: the lineage of {ref} has a cycle")
            chain.append(self._record(data, chain[-1]["parent"]))
        return chain[::-1]

    def history(self, name: Optional[str] = None) -> builtins.list[dict]:
        return [h for h in self._load()["history"] if name in (None, h["name"])]

    def object_path(self, record: Mapping[str, Any]) -> Path:
        """The stored container of a version, checked against its sha256."""
        path = self.root / "objects" / record["sha256"][:2] / f"{record['sha256']}.pxi"
        if not path.is_file():
            raise IntegrityError(f"the container of {record['name']}@{record['version']} is missing from {path}")
        return path

    def verified_path(self, record: Mapping[str, Any]) -> Path:
        path = self.object_path(record)
        if file_sha256(path) != record["sha256"]:
            raise IntegrityError(f"the container of {record['name']}@{record['version']} at {path} no longer "
                                 "matches its sha256")
        return path

    def text_path(self, sha256: str) -> Path:
        return self.root / "texts" / sha256[:2] / f"{sha256}.txt"

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
        stored = self._store("objects", source, sha, ".pxi")
        with self._transaction() as data:
            entry = data["models"].setdefault(name, {"current": None, "previous": None, "versions": {}})
            versions = entry["versions"]
            version = str(version or f"v{len(versions) + 1}")
            if not VERSION.match(version):
                raise RegistryError(f"version {version!r} is invalid (letters, digits, '.', '_', '+', '-')")
            if version in versions:
                raise RegistryError(f"{name}@{version} is already registered (sha256 {versions[version]['sha256'][:12]}); "
                                    "registered versions are never replaced")
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
        self._store("texts", Path(eval_text), record["sha256"], ".txt")
        return {"path": self.text_path(record["sha256"]), "sha256": record["sha256"]}, \
            eval_name or Path(eval_text).name

    def promote(self, ref: str, *, approved_by: str, reason: str, approver_kind: str = "human",
                tolerance: float = DEFAULT_TOLERANCE) -> dict:
        """Make a version current, if every gate passes; a refusal is recorded, then raised as PromotionRefused."""
        return self._make_current("promote", ref, approved_by, reason, approver_kind, tolerance)

    def rollback(self, name: str, to: Optional[str] = None, *, approved_by: str, reason: str,
                 approver_kind: str = "human") -> dict:
        """Make an earlier version current again (default: the one current before)."""
        return self._make_current("rollback", f"{name}@{to}" if to else name, approved_by, reason, approver_kind, None)

    def _make_current(self, action: str, ref: str, approved_by: str, reason: str, approver_kind: str,
                      tolerance: Optional[float]) -> dict:
        if not str(approved_by or "").strip() or not str(reason or "").strip():
            raise RegistryError(f"{action} needs an approver (--approved-by) and a reason (--reason)")
        name, version = split_ref(ref)
        refusal = None
        with self._transaction() as data:
            entry = self._entry(data, name)
            current = entry["versions"].get(entry["current"]) if entry["current"] else None
            if action == "rollback":
                version = version or entry.get("previous")
                if current is None or version is None:
                    raise RegistryError(f"model {name!r} has no earlier current version to roll back to; name one "
                                        "with --to")
            elif version is None:
                raise RegistryError(f"promote needs a version: {name}@VERSION")
            record = self._record(data, f"{name}@{version}")
            refusal = self._refusal(data, record, approver_kind, tolerance)
            by = f"{approver_kind}:{approved_by}"
            if refusal:
                self._log(data, action, record, "refused", refusal, by=by, reason=reason)
            else:
                if current is not None:
                    current["status"] = "superseded"
                record["status"] = "current"
                record["promoted"] = {"by": approved_by, "kind": approver_kind, "reason": reason, "at": _now(),
                                      "action": action, "replaced": None if current is None else current["version"]}
                entry["previous"], entry["current"] = entry["current"], record["version"]
                self._log(data, action, record, "done", f"now current (was {entry['previous'] or 'no version'})",
                          by=by, reason=reason)
        if refusal:
            raise PromotionRefused(f"{action} of {name}@{version} refused: {refusal}")
        return record

    def _refusal(self, data: dict, record: dict, approver_kind: str, tolerance: Optional[float]) -> Optional[str]:
        """Why ``record`` may not become current, or None when every gate passes."""
        if record["status"] == "current":
            return "it is already the current version"
        if approver_kind != "human":
            return "a model version becomes current only with a human's approval (--approver-kind human)"
        try:
            self.verified_path(record)
        except IntegrityError as exc:
            return str(exc)
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
