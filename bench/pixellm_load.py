"""Load time of a pixel model container (PNG) against the same weights in a safetensors file.

Both produce the same float32 arrays, ready for the numpy engine: the PNG
side is ``load_model`` (inflate, sha256 check, directory checks, decode), the
safetensors side is ``safetensors.numpy.load_file`` on a file holding the
same tensors in the same stored precision, then the conversion to float32.
The container is measured as written with zlib level 0 (stored blocks, what
``model convert --level 0`` writes) and level 9 (smallest), with and without
the sha256 check (the engine loads without it: the PNG's CRC-32s and zlib's
Adler-32 still catch corruption). Rounds alternate; medians are reported.

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
    from pxos_pixellm.container import load_model, save_model
    from pxos_pixellm.engine import shipped_model_path

    shipped = load_model(shipped_model_path())
    stored = {e["name"]: e["encoding"] for e in shipped.directory}
    numpy_dtype = {"fp32": np.float32, "fp16": np.float16}
    if not set(stored.values()) <= set(numpy_dtype):
        raise SystemExit(f"this benchmark compares float containers; the shipped model uses {set(stored.values())}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        encoding = next(iter(set(stored.values())))
        for level in (0, 9):
            save_model(tmp / f"level{level}.pxi", shipped.config, shipped.tensors, encoding=encoding, level=level)
        save_file({name: t.astype(numpy_dtype[stored[name]]) for name, t in shipped.tensors.items()},
                  str(tmp / "model.safetensors"))

        def safetensors_load():
            return {name: t.astype(np.float32) for name, t in load_file(str(tmp / "model.safetensors")).items()}

        candidates = {
            "safetensors": safetensors_load,
            "png level 0": lambda: load_model(tmp / "level0.pxi"),
            "png level 0, no sha256 (engine)": lambda: load_model(tmp / "level0.pxi", verify=False),
            "png level 9": lambda: load_model(tmp / "level9.pxi"),
        }
        samples = interleaved(candidates, rounds=args.rounds)
        sizes = {"safetensors": (tmp / "model.safetensors").stat().st_size,
                 "png level 0": (tmp / "level0.pxi").stat().st_size,
                 "png level 9": (tmp / "level9.pxi").stat().st_size}
    base = median(samples["safetensors"])
    rows = []
    for name, times in samples.items():
        size = sizes.get(name)
        rows.append((name, f"{1000 * median(times):7.1f} ms  {median(times) / base:5.2f}x safetensors"
                     + (f"  ({size / 1e6:.2f} MB)" if size else "")))
    report(f"load {sum(t.size for t in shipped.tensors.values())} parameters ({encoding}) to float32, "
           f"median of {args.rounds} (target: png <= 1.5x safetensors)", rows)


if __name__ == "__main__":
    main()
