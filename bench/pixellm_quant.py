"""What quantizing the shipped model costs in bits per byte, against its float32 weights.

The shipped model's weights (decoded to float32) are stored again in each
encoding (int8 in blocks of 32 with fp16 scales, the seed's uint8 per-tensor
min/max, bf16, fp16) as model containers, opened as the engine opens them and
evaluated on the same held-out text by the engine's own computation (the
compiled kernels, on the stored weights: int8 is multiplied on its blocks,
activations quantized to int8 blocks as llama.cpp's Q8_0 does); the cost is
the relative increase in bits per byte over float32. The fp16 row is the
shipped model itself (stored in fp16); its bits per byte against gzip -9's on
the whole held-out text is Genesis's quality target for it (under 0.8x), which
the tests check on a sample of the same walk.

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

    import gzip
    import tempfile

    from _timing import report, verdict
    from pxos_pixellm.container import load_model, open_model, save_model
    from pxos_pixellm.engine import shipped_held_out_path, shipped_model_path
    from pxos_pixellm.evaluate import evaluate
    from pxos_pixellm.model import build_transformer

    loaded = load_model(shipped_model_path())
    text = shipped_held_out_path().read_bytes()[: args.bytes]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for encoding in ("fp32", "fp16", "bf16", "int8", "uint8"):
            path = Path(tmp) / f"{encoding}.pxi"
            save_model(path, loaded.config, loaded.tensors, encoding=encoding)
            opened = open_model(path)
            model = build_transformer(opened)
            size = sum(e.length for e in opened.tensors)
            results[encoding] = (evaluate(model, text, "held-out").bits_per_byte, size, model.backend)
    base = results["fp32"][0]
    rows = [(encoding, f"{bpb:.4f} bits/byte  {100 * (bpb / base - 1):+6.2f}% vs fp32  weights {size / 1e6:5.2f} MB"
             f"  ({backend})") for encoding, (bpb, size, backend) in results.items()]
    cost = results["int8"][0] / base - 1
    rows.append(("int8 target", f"within 1%: {100 * cost:+.3f}%  {verdict(abs(cost) <= 0.01)}"))
    if len(text) == len(shipped_held_out_path().read_bytes()):
        gzip_bpb = 8 * len(gzip.compress(text, compresslevel=9, mtime=0)) / len(text)
        ratio = results["fp16"][0] / gzip_bpb
        rows.append(("shipped vs gzip -9", f"{ratio:.3f}x gzip's {gzip_bpb:.4f} bits/byte (target < 0.8x)  "
                                           f"{verdict(ratio < 0.8)}"))
    report(f"quantization cost on {len(text)} held-out bytes, engine path", rows)


if __name__ == "__main__":
    main()
