"""Load time of a pixel model container (PNG) against the same weights in a safetensors file.

Both sides end with the weights resident in memory in their stored precision,
ready for the engine's kernels (which compute on fp16/int8 as stored):

* safetensors: ``safetensors.numpy.load_file`` (each tensor copied out of the
  file into a numpy array);
* PNG, engine path: what ``PixelEngine.load`` does: ``open_model`` without the
  sha256 (the payload read into its final buffer, a numpy.empty one: for a
  level-0 container the IDAT chunks are read in 256 KiB pieces, every chunk's
  CRC-32 and the zlib stream's Adler-32 checked, with zlib-ng's checksums when
  it is installed (printed below), and the stored deflate blocks' rows copied
  into place, no inflating), the directory and config checks, and the compiled
  transformer's views of the stored bytes;
* for reference: the PNG with the sha256 checked too, and written at zlib
  level 9.

The shipped model (fp16) and a 50M-parameter random int8 model are measured;
rounds alternate, medians are reported. Target (issue 16): PNG engine path at
most 1.3x safetensors.

    python bench/pixellm_load.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    import numpy as np
    from safetensors.numpy import load_file, save_file

    from _timing import interleaved, median, report
    from pxos_pixellm.config import ModelConfig
    from pxos_pixellm.container import load_model, open_model, save_model
    from pxos_pixellm.engine import shipped_model_path
    from pxos_pixellm.model import build_transformer, expected_shapes

    shipped = load_model(shipped_model_path())
    big = ModelConfig(vocab_size=256, hidden_size=640, intermediate_size=1728, num_hidden_layers=10,
                      num_attention_heads=10, num_key_value_heads=10, max_position_embeddings=512, tokenizer="bytes")
    rng = np.random.default_rng(0)
    big_tensors = {n: np.ones(s, np.float32) if len(s) == 1 else (0.02 * rng.standard_normal(s)).astype(np.float32)
                   for n, s in expected_shapes(big).items()}
    from pxos_kernel.container import _checksums

    print(f"CRC-32 and Adler-32 from {_checksums()[0].__module__}")
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, config, tensors, encoding in (("shipped 3.3M fp16", shipped.config, shipped.tensors, "fp16"),
                                                 ("random 50M int8", big, big_tensors, "int8")):
            for level in (0, 9):
                save_model(tmp / f"level{level}.pxi", config, tensors, encoding=encoding, level=level)
            # safetensors holds the very bytes the container stores (int8: codes and fp16 scales, as arrays)
            model = open_model(tmp / "level0.pxi")
            stored = {}
            for entry in model.tensors:
                raw = np.frombuffer(model.raw(entry.name), dtype=np.uint8)
                if entry.encoding in ("fp16", "bf16"):
                    stored[entry.name] = raw.view(np.float16).reshape(entry.shape)
                elif entry.encoding == "fp32":
                    stored[entry.name] = raw.view(np.float32).reshape(entry.shape)
                else:
                    stored[entry.name] = raw.copy()
            save_file(stored, str(tmp / "model.safetensors"))

            candidates = {
                "safetensors": lambda: load_file(str(tmp / "model.safetensors")),
                "png level 0, engine path": lambda: build_transformer(open_model(tmp / "level0.pxi", verify=False)),
                "png level 0, + sha256": lambda: open_model(tmp / "level0.pxi", verify=True),
                "png level 9, engine path": lambda: build_transformer(open_model(tmp / "level9.pxi", verify=False)),
            }
            samples = interleaved(candidates, rounds=args.rounds)
            base = median(samples["safetensors"])
            rows = []
            for name, times in samples.items():
                ratio = median(times) / base
                verdict = ""
                if name == "png level 0, engine path":
                    verdict = f"  (target <= 1.3x) {'ok' if ratio <= 1.3 else 'MISSED'}"
                    missed += ratio > 1.3
                rows.append((name, f"{1000 * median(times):7.1f} ms  {ratio:5.2f}x safetensors{verdict}"))
            report(f"load {label} ({sum(e.count for e in model.tensors) / 1e6:.1f}M parameters), median of "
                   f"{args.rounds}", rows)
    print("ok" if not missed else "MISSED")


if __name__ == "__main__":
    main()
