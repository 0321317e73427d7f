"""Genesis §5: GPU-native eventually. The checks run the GPU engine on the system's own model.

They judge the running system, not a cartridge (a cartridge under evolution
does not change the GPU engine, and running it on every build would cost a
model load each time): with a cartridge to judge they answer ``unchecked``
and point to ``pxos-kernel genesis``. They use the ``pixellm-gpu`` inference
engine only through the kernel
(``kernel.engine("pixellm-gpu")``, with ``offload`` given per instance), and
answer ``unchecked``, saying why, when it is not installed or finds no GPU
adapter: then nothing was run, so nothing can be claimed.

G5.1  the whole forward pass runs on the GPU (``offload: all``): embedding,
      every layer, head; only sampling stays on the CPU. Its greedy text is
      the CPU engine's.
G5.2  migration is incremental: the same text with no layer, the first layer
      only, and every layer on the GPU.
G5.3  the kernels read the pixel weights directly: every weight buffer, read
      back from the GPU, holds the PNG payload bytes of its tensor.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from pxos_genesis.checks import Outcome, bad, check, judge, plural, unknown
from pxos_genesis.subject import memo

ENGINE = "pixellm-gpu"
PROMPT = "class Stack:\n    def push(self, item):\n        "
TOKENS = 16
SPLITS = ("none", "layers 0-0", "all")


ABOUT_THE_SYSTEM = ("G5 judges the running system's GPU engine, not a cartridge: run pxos-kernel genesis "
                    "(without --cartridge)")


def system_check(name: str) -> Callable[[Callable[[Mapping[str, Any]], Outcome]], Any]:
    """Register ``function(context)`` as a world check that answers unchecked when a cartridge is judged."""

    def register(function: Callable[[Mapping[str, Any]], Outcome]) -> Any:
        def judged(candidate: Any, context: Mapping[str, Any]) -> Outcome:
            return unknown(ABOUT_THE_SYSTEM) if candidate is not None else function(context)

        judged.__name__ = judged.__qualname__ = function.__name__
        return check(name, cartridge=False)(judged)

    return register


def _engine(context: Mapping[str, Any], offload: Optional[str] = None) -> tuple[Any, str]:
    """The GPU engine (with ``offload``) and "", or None and why it cannot be judged."""
    from pxos_kernel import PxosError

    kernel = context["kernel"]
    if ENGINE not in kernel.registry("inference").names():
        return None, (f"the {ENGINE} inference engine is not installed (pip install ./plugins/pxos-pixellm-gpu), "
                      "so no GPU kernel was run")
    try:
        engine = kernel.engine(ENGINE, offload=offload) if offload else kernel.engine(ENGINE)
        engine.describe()  # opens the adapter: the one-line reason when there is none
    except PxosError as exc:
        return None, f"{ENGINE} could not start: {exc}"
    return engine, ""


def _greedy(context: Mapping[str, Any], engine_name: str, offload: Optional[str]) -> str:
    """The greedy continuation of PROMPT by one engine (and offload), once per genesis report."""
    from pxos_kernel import GenerationRequest

    cache = memo(context, "gpu_texts")
    key = (engine_name, offload)
    if cache is not None and key in cache:
        return cache[key]
    kernel = context["kernel"]
    engine = kernel.engine(engine_name, offload=offload) if offload else kernel.engine(engine_name)
    text = "".join(c.text for c in engine.generate(GenerationRequest(PROMPT, max_tokens=TOKENS, temperature=0)))
    if cache is not None:
        cache[key] = text
    return text


def _ran(context: Mapping[str, Any], offload: str) -> tuple[Optional[str], Optional[Outcome]]:
    """Run the shipped model under ``offload``; the engine's text, or an unchecked/failed Outcome."""
    from pxos_kernel import PxosError

    engine, why = _engine(context, offload)
    if engine is None:
        return None, unknown(why)
    try:
        return _greedy(context, ENGINE, offload), None
    except PxosError as exc:
        return None, bad(f"{ENGINE} (offload {offload}) failed to generate", [f"{ENGINE} failed: {exc}"])


@system_check("gpu_only_execution")
def gpu_only_execution(context: Mapping[str, Any]) -> Outcome:
    text, failed = _ran(context, "all")
    if failed is not None:
        return failed
    engine, _ = _engine(context, "all")
    report = engine.describe()
    placed = report["loaded"][-1]
    cpu = placed["cpu"]
    problems = []
    if cpu["embedding"] or cpu["layers"] or cpu["head"]:
        problems.append(f"with offload all, parts still ran on the CPU: {cpu}")
    reference = _greedy(context, "pixellm", None)
    if text != reference:
        problems.append(f"the GPU's greedy text {text!r} differs from pixellm's {reference!r}")
    return judge(problems, f"{ENGINE} ran the shipped model entirely on {report['adapter']['name']} "
                 f"({report['adapter']['backend']}, {'software' if report['adapter']['software'] else 'hardware'} "
                 f"adapter): embedding, layers {placed['gpu']['layers'][0]}-{placed['gpu']['layers'][-1]} and head "
                 f"in WGSL, only sampling on the CPU; its {TOKENS} greedy tokens equal pixellm's numpy engine "
                 f"({text!r})")


@system_check("gpu_incremental_migration")
def gpu_incremental_migration(context: Mapping[str, Any]) -> Outcome:
    texts = {}
    for split in SPLITS:
        text, failed = _ran(context, split)
        if failed is not None:
            return failed
        texts[split] = text
    reference = _greedy(context, "pixellm", None)
    problems = [f"offload {split!r} gave {text!r}, pixellm (CPU) gave {reference!r}"
                for split, text in texts.items() if text != reference]
    return judge(problems, f"{ENGINE} with offload {', '.join(repr(s) for s in SPLITS)} (no layer, the first layer, "
                 f"every layer on the GPU; the rest through pixellm on the CPU) gave the same {TOKENS} greedy tokens "
                 f"as pixellm: {reference!r}")


@system_check("gpu_reads_pixel_weights")
def gpu_reads_pixel_weights(context: Mapping[str, Any]) -> Outcome:
    from pxos_kernel import PxosError

    engine, why = _engine(context, "all")
    if engine is None:
        return unknown(why)
    try:
        rows = engine.verify_upload()
        _greedy(context, ENGINE, "all")  # the kernels computed from those buffers
    except PxosError as exc:
        return bad(f"{ENGINE} could not load the shipped model", [f"{ENGINE} failed: {exc}"])
    loaded = engine.describe()["loaded"][-1]
    mismatched = [f"{r['part']} of tensor {r['tensor']} on the GPU differs from payload bytes "
                  f"{r['offset']}..{r['offset'] + r['length']}" for r in rows if not r["equal"]]
    tensors = {r["tensor"] for r in rows}
    return judge(mismatched, f"{plural(len(rows), 'GPU buffer')} of {plural(len(tensors), 'tensor')} read back from "
                 f"the GPU hold byte for byte (sha256 compared) the PNG payload slices they were uploaded from: "
                 f"{loaded['weight_bytes_on_gpu']} weight bytes of the {loaded['payload_bytes']}-byte payload of "
                 f"{loaded['path']}, not converted on the host; the WGSL kernels decoded them while generating")
