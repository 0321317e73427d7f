"""What quantizing the shipped model costs in bits per byte, against its float32 weights.

The shipped model's weights (decoded to float32) are stored again in each
encoding (int8 in blocks of 32 with fp16 scales, the seed's uint8 per-tensor
min/max, bf16, fp16), read back, and evaluated on the same held-out text;
the cost is the relative increase in bits per byte over float32.

    python bench/pixellm_quant.py [--bytes 65536]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=65536, help="held-out bytes to evaluate on")
    args = parser.parse_args()

    from _timing import report
    from pxos_pixellm.commands import requantize
    from pxos_pixellm.container import load_model
    from pxos_pixellm.engine import shipped_held_out_path, shipped_model_path
    from pxos_pixellm.evaluate import evaluate
    from pxos_pixellm.model import Transformer
    from pxos_pixellm.tensors import encoded_length

    loaded = load_model(shipped_model_path())
    text = shipped_held_out_path().read_bytes()[: args.bytes]
    results = {}
    for encoding in ("fp32", "fp16", "bf16", "int8", "uint8"):
        tensors = requantize(loaded.config, loaded.tensors, encoding)
        size = sum(encoded_length(t.size, "fp32" if t.ndim < 2 and encoding in ("int8", "uint8") else encoding)
                   for t in tensors.values())
        results[encoding] = (evaluate(Transformer(loaded.config, tensors), text, "held-out").bits_per_byte, size)
    base = results["fp32"][0]
    rows = [(encoding, f"{bpb:.4f} bits/byte  {100 * (bpb / base - 1):+6.2f}% vs fp32  "
             f"weights {size / 1e6:5.2f} MB") for encoding, (bpb, size) in results.items()]
    report(f"quantization cost on {len(text)} held-out bytes (target: int8 within 1%)", rows)


if __name__ == "__main__":
    main()
