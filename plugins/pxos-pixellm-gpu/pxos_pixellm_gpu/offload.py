"""Which layers run on the GPU: the ``offload`` setting (Genesis §5, incremental migration).

``all``
    the embedding, every decoder layer, the final norm and the output head
    run on the GPU; only sampling runs on the CPU.
``layers N-M`` (or ``layers N``)
    decoder layers N to M (inclusive, counted from 0) run on the GPU; the
    embedding, the other layers and the head run on the CPU through pxos-pixellm.
``none``
    everything runs on the CPU through pxos-pixellm (nothing is uploaded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pxos_kernel import ConfigError

_LAYERS = re.compile(r"^layers\s+(\d+)(?:\s*-\s*(\d+))?$")


@dataclass(frozen=True)
class Offload:
    """A parsed ``offload`` value: GPU layers ``first..last`` (inclusive), and whether the ends go too."""

    spec: str
    first: int = 0
    last: int = -1  # last < first: no layer on the GPU
    ends: bool = False  # the embedding and the head on the GPU as well ("all")

    @property
    def layers(self) -> range:
        return range(self.first, self.last + 1)

    @property
    def on_gpu(self) -> bool:
        return self.ends or len(self.layers) > 0

    def describe(self, layer_count: int) -> str:
        if self.ends:
            return f"all: embedding, layers 0-{layer_count - 1} and head on the GPU"
        if not self.layers:
            return "none: everything on the CPU"
        return (f"layers {self.first}-{self.last} of 0-{layer_count - 1} on the GPU; "
                "embedding, other layers and head on the CPU")


def parse_offload(value: object, layer_count: int) -> Offload:
    """Parse an ``offload`` value against a model of ``layer_count`` layers; ConfigError (one line) if invalid."""
    spec = " ".join(str(value).split()) if value is not None else "all"
    if spec == "all":
        return Offload(spec, 0, layer_count - 1, ends=True)
    if spec == "none":
        return Offload(spec)
    match = _LAYERS.match(spec)
    if not match:
        raise ConfigError(f"offload {spec!r}: expected 'all', 'none' or 'layers N-M' (e.g. 'layers 0-{layer_count - 1}')")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if first > last:
        raise ConfigError(f"offload {spec!r}: the first layer {first} comes after the last {last}")
    if last >= layer_count:
        raise ConfigError(f"offload {spec!r}: the model has layers 0-{layer_count - 1}")
    return Offload(spec, first, last)
