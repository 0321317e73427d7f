"""pixellm-gpu on a real GPU: decode speed against pixellm numpy and llama.cpp's CPU build, ~100M parameters.

The model is made here: random weights (speed does not depend on them) in
the Llama layout, about 100M parameters (vocab 32000, width 768, 12 layers,
12 heads over 4 key/value heads, SwiGLU 2048, tied head), stored as fp16 in a
model container and exported with `pxos-kernel model convert` to GGUF (F16)
for llama.cpp. Each engine prefills the same prompt ids and decodes the same
number of tokens greedily, batch 1, one token a step with a KV cache; rounds
alternate between engines; medians of the decode steps (the prompt is not
counted). llama.cpp runs through llama-cpp-python
(pip install llama-cpp-python builds it from source, about 10 minutes) with
as many threads as numpy uses (--threads); without it its row says so.

Target: pixellm-gpu decodes at least 5x as fast as pixellm numpy. This needs
a hardware adapter: on a software one (lavapipe) the script says so and
stops, unless --allow-software (a smoke run of the script itself, e.g. with
--layers 2 --width 256, whose figures mean nothing).

    python bench/pixellm_gpu_real.py [--tokens 64] [--rounds 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).parent))

TARGET = 5.0


def make_model(directory: Path, args: argparse.Namespace) -> Path:
    import numpy as np

    import pxos_pixellm

    heads = max(1, args.width // 64)
    config = pxos_pixellm.ModelConfig(vocab_size=32000, hidden_size=args.width, intermediate_size=args.width * 8 // 3,
                                      num_hidden_layers=args.layers, num_attention_heads=heads,
                                      num_key_value_heads=max(1, heads // 3), max_position_embeddings=1024,
                                      tie_word_embeddings=True, tokenizer="none")
    rng = np.random.default_rng(0)
    tensors = {name: (np.ones(shape) if len(shape) == 1 else rng.standard_normal(shape) * 0.02).astype(np.float16)
               for name, shape in pxos_pixellm.expected_shapes(config).items()}
    path = directory / "bench-100m.pxi"
    pxos_pixellm.save_model(path, config, tensors, encoding="fp16", info={"source": "bench/pixellm_gpu_real.py"})
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--allow-software", action="store_true", help="run on a software adapter (a smoke run)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np

    import pxos_pixellm
    from _pixellm import Decoded, decode_rate, greedy, rounds
    from _timing import report, verdict
    from pxos_pixellm_gpu.engine import GpuEngine

    gpu_engine = GpuEngine({"adapter": "auto"})
    adapter = gpu_engine.gpu.info
    if adapter.software and not args.allow_software:
        print(f"pending: the real-GPU benchmark needs a hardware adapter; this machine has only "
              f"{adapter.line()}. No figure was measured (run it where a GPU is lent).")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        path = make_model(Path(tmp), args)
        parameters = sum(entry.count for entry in pxos_pixellm.open_model(path, verify=False).tensors)
        gpu_model = gpu_engine.load(str(path))
        cpu_model = pxos_pixellm.PixelEngine({"compute": "numpy"}).transformer(str(path))
        native_model = pxos_pixellm.PixelEngine({}).transformer(str(path))  # the compiled C kernels, beside
        prompt = list(range(32, 96))

        candidates: dict[str, Callable[[], Decoded]] = {
            "pixellm-gpu": lambda: greedy(gpu_model, prompt, args.tokens),
            "pixellm numpy": lambda: greedy(cpu_model, prompt, args.tokens),
            "pixellm compiled": lambda: greedy(native_model, prompt, args.tokens)}
        llama = llama_cpp_decoder(path, Path(tmp), prompt, args)
        if callable(llama):
            candidates["llama.cpp (CPU)"] = llama
        runs = rounds(candidates, args.rounds)
    same = runs["pixellm-gpu"][0].tokens == runs["pixellm numpy"][0].tokens
    speed = {name: decode_rate(results) for name, results in runs.items()}
    ratio = speed["pixellm-gpu"] / speed["pixellm numpy"]
    rows = [(name, f"{tps:.1f} tok/s") for name, tps in speed.items()]
    if not callable(llama):
        rows.append(("llama.cpp (CPU)", llama))
    else:
        rows.append(("vs llama.cpp", f"{speed['pixellm-gpu'] / speed['llama.cpp (CPU)']:.2f}x (report)"))
    judged = "smoke run on a software adapter: not judged" if adapter.software else verdict(ratio >= TARGET)
    rows += [("vs numpy", f"{ratio:.2f}x  (target >= {TARGET:.0f}x: {judged})"),
             ("same tokens as numpy", "yes" if same else "NO")]
    report(f"decode, batch 1, {args.tokens} greedy tokens after {len(prompt)} prompt tokens, {parameters / 1e6:.1f}M "
           f"parameters (fp16), CPU engines on {args.threads} thread(s), median of {args.rounds}; adapter "
           f"{adapter.line()}", rows)
    return 0


def llama_cpp_decoder(path: Path, directory: Path, prompt: list[int], args: argparse.Namespace):
    """A decode function on llama.cpp for the same weights (GGUF F16), or the reason there is none."""
    try:
        import llama_cpp
    except ImportError:
        return "not measured: llama-cpp-python is not installed (pip install llama-cpp-python)"
    gguf = directory / "bench-100m.gguf"
    done = subprocess.run([sys.executable, "-m", "pxos_kernel", "model", "convert", str(path), "--out", str(gguf)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return f"not measured: the GGUF export failed ({done.stderr.strip()})"
    # logits_all keeps every step's logits in llm.scores (only the prompt's prefill computes more for it).
    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=len(prompt) + args.tokens + 8, n_threads=args.threads,
                          n_batch=len(prompt), logits_all=True, verbose=False)

    def decode() -> Any:
        import time

        import numpy as np

        from _pixellm import Decoded

        started = time.perf_counter()
        llm.reset()
        llm.eval(prompt)
        prefilled = time.perf_counter()
        out = []
        for _ in range(args.tokens):
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            out.append(token)
            llm.eval([token])
        return Decoded(out, prefilled - started, time.perf_counter() - prefilled)

    return decode


if __name__ == "__main__":
    sys.exit(main())
