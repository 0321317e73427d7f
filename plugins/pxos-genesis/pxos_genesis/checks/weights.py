"""Genesis §9.1: model weights in a cartridge are pixel containers, and they load.

"Load" means the pxOS container reader returns the payload with its sha256
verified, and every tensor of the metadata's directory lies inside it.
"""

from __future__ import annotations

import io
from typing import Any, Mapping

from pxos_genesis.checks import check, judge, plural
from pxos_genesis.checks.pixels import container_meta
from pxos_genesis.subject import Candidate

#: Weight formats that are not pixels.
NON_PIXEL_WEIGHTS = (".safetensors", ".gguf", ".ggml", ".bin", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".onnx",
                     ".h5", ".pkl", ".pickle", ".msgpack", ".tflite")


def tensor_problems(meta: Mapping[str, Any], length: int) -> list[str]:
    """Tensors of a model container's directory that point outside its payload."""
    tensors = meta.get("tensors") or {}
    entries = tensors.items() if isinstance(tensors, Mapping) else ((t.get("name"), t) for t in tensors)
    problems = []
    for name, entry in entries:
        offset, size = entry.get("offset"), entry.get("length", entry.get("nbytes"))
        if not isinstance(offset, int) or not isinstance(size, int) or offset < 0 or size < 0 or \
                offset + size > length:
            problems.append(f"tensor {name!r} (offset {offset}, length {size}) lies outside the {length}-byte payload")
    return problems


@check("weights_are_pixel_containers")
def weights_are_pixel_containers(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    from pxos_kernel.container import read_container

    archive = candidate.archive
    problems = [("model weights stored in a non-pixel format", name) for name in archive.names()
                if name.lower().endswith(NON_PIXEL_WEIGHTS)]
    models = tensors = 0
    for name in archive.names():
        if not name.lower().endswith((".pxi", ".png")):
            continue
        data = archive.read(name)
        meta = container_meta(data)
        if not meta or meta.get("kind") != "model":
            continue
        models += 1
        try:
            payload, meta = read_container(io.BytesIO(data), verify=True)
        except Exception as exc:
            problems.append((f"model container does not load: {exc}", name))
            continue
        found = tensor_problems(meta, len(payload))
        problems.extend((p, name) for p in found)
        tensors += len(meta.get("tensors") or ())
    return judge(problems, f"{plural(len(archive.names()), 'member')} listed: {plural(models, 'model container')} "
                 f"loaded with sha256 verified ({plural(tensors, 'tensor')} inside their payloads), no weights in "
                 "non-pixel formats")
