"""Genesis §9.2 and §9.3: the model in the cartridge runs, and looks at itself, through the inference engine.

The model containers (kind ``model``) inside the cartridge being judged are
given to the running system's ``pixellm`` engine: §9.3 generates a few tokens
from them, §9.2 asks the engine for the model's own tensor directory and for
the pixels that hold one tensor, and compares those pixels with the bytes the
kernel's container reader finds at the tensor's place in the payload.
"""

from __future__ import annotations

import hashlib

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from pxos_genesis.checks import Outcome, check, judge, plural, unknown
from pxos_genesis.checks.pixels import container_meta
from pxos_genesis.subject import Candidate

ENGINE = "pixellm"


def model_members(candidate: Candidate) -> list[str]:
    """Members of the cartridge that are model containers."""
    archive = candidate.archive
    return [name for name in archive.names() if name.lower().endswith((".pxi", ".png"))
            and (container_meta(archive.read(name)) or {}).get("kind") == "model"]


@contextmanager
def _engine_and_models(candidate: Candidate, context: Mapping[str, Any]) -> Iterator[Any]:
    """``(engine, [(member, path of a copy)])``, or an ``unchecked`` Outcome saying why there is none."""
    members = model_members(candidate)
    if not members:
        yield unknown(f"{candidate.label} carries no model container, so there is no model to run"), []
        return
    kernel = context["kernel"]
    if ENGINE not in kernel.registry("inference"):
        yield unknown(f"no {ENGINE!r} inference engine is installed to run {members[0]} (install pxos-pixellm)"), []
        return
    try:
        engine = kernel.engine(ENGINE)
    except ImportError as exc:
        yield unknown(f"the {ENGINE} engine cannot start here: {exc} (a pure-Python system does not carry numpy: "
                      "'world pack --native' does)"), []
        return
    with tempfile.TemporaryDirectory(prefix="pxos-genesis-model-") as tmp:
        copies = []
        for n, member in enumerate(members):
            path = Path(tmp, f"model-{n}.pxi")
            path.write_bytes(candidate.archive.read(member))
            copies.append((member, path))
        yield engine, copies


def _guard(engine: Any, work: Any) -> Any:
    try:
        return work()
    except ImportError as exc:
        return unknown(f"the {ENGINE} engine cannot run here: {exc} ('world pack --native' carries numpy)")


@check("inference_from_pixel_weights")
def inference_from_pixel_weights(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    from pxos_kernel import GenerationRequest

    with _engine_and_models(candidate, context) as (engine, models):
        if isinstance(engine, Outcome):
            return engine

        def run() -> Any:
            problems, said = [], []
            for member, path in models:
                chunks = list(engine.generate(GenerationRequest("pxOS ", model=str(path), max_tokens=8,
                                                                temperature=0.0, seed=0)))
                tokens = sum(c.tokens for c in chunks)
                text = "".join(c.text for c in chunks)
                if tokens < 1:
                    problems.append(("the engine generated nothing from it", member))
                said.append(f"{member}: {tokens} tokens {text!r}")
            return judge(problems, f"the {ENGINE} engine ran {plural(len(models), 'model container')} straight from "
                         f"its pixels (prompt 'pxOS ', 8 tokens, greedy): {'; '.join(said)}")

        return _guard(engine, run)


@check("model_inspects_itself")
def model_inspects_itself(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    from pxos_kernel.container import read_range

    with _engine_and_models(candidate, context) as (engine, models):
        if isinstance(engine, Outcome):
            return engine
        if not (hasattr(engine, "describe_self") and hasattr(engine, "read_own_pixels")):
            return unknown(f"the installed {ENGINE} engine has no describe_self/read_own_pixels, so the model cannot "
                           "be asked about itself")

        def run() -> Any:
            problems, seen = [], []
            for member, path in models:
                described = engine.describe_self(str(path))
                tensors = described.get("tensors") or []
                if not tensors:
                    problems.append(("describe_self() lists no tensors", member))
                    continue
                for entry in (tensors[0], tensors[-1]):
                    own = engine.read_own_pixels(entry["name"], str(path))
                    stored = read_range(path, own["offset"], own["length"])
                    pixels = own["pixels"][own["lead"]:own["lead"] + own["length"]]
                    if pixels != stored:
                        problems.append((f"the pixels the model reads for tensor {entry['name']!r} differ from the "
                                         "container's bytes there", member))
                seen.append(f"{member}: {len(tensors)} tensors, {described.get('parameters')} parameters, payload "
                            f"sha256 {str(described.get('sha256'))[:12]}... verified={described.get('verified')}; "
                            f"tensors {tensors[0]['name']!r} and {tensors[-1]['name']!r} read back as pixels "
                            f"(sha256 {hashlib.sha256(pixels).hexdigest()[:12]}...) equal to the stored bytes")
            return judge(problems, f"the {ENGINE} engine described {plural(len(models), 'model')} from its own "
                         f"container and read its own pixels: {'; '.join(seen)}")

        return _guard(engine, run)



