"""pixellm-gpu on this machine's adapter against pixellm's numpy engine, and the bytes a model load moves.

Decode: both engines load the shipped model (3.28M parameters, fp16), prefill
the same prompt and decode the same tokens greedily, one a step with a KV
cache; rounds alternate so machine load hits both alike; medians. On a
software adapter (lavapipe: WGSL run on the CPU) the GPU engine is not
expected to win; the figure is reported, not judged. bench/pixellm_gpu_real.py
is the real-GPU benchmark.

Bytes moved: every byte the engine hands to wgpu while loading (buffers made
with data, buffer writes), counted at the wgpu calls, against the payload
bytes of the tensors. Target 1.0x for the weights: no expanded copies.

    python bench/pixellm_gpu.py [--tokens 32] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


class Counting:
    """Wraps a wgpu device so that every byte written to it while loading is counted, by label."""

    def __init__(self, device):
        self.device = device
        self.bytes: dict[str, int] = {}
        original_with_data, original_write = device.create_buffer_with_data, device.queue.write_buffer

        def create_buffer_with_data(*, label="", data, usage):
            self.bytes[label] = self.bytes.get(label, 0) + memoryview(data).nbytes
            return original_with_data(label=label, data=data, usage=usage)

        def write_buffer(buffer, offset, data, *rest):
            label = getattr(buffer, "label", "") or "write"
            self.bytes[label] = self.bytes.get(label, 0) + memoryview(data).nbytes
            return original_write(buffer, offset, data, *rest)

        device.create_buffer_with_data = create_buffer_with_data
        device.queue.write_buffer = write_buffer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np

    import pxos_pixellm
    from _pixellm import decode_rate, greedy, prefill_rate, rounds
    from _timing import report, verdict
    from pxos_pixellm_gpu.engine import GpuEngine

    numpy_engine = pxos_pixellm.PixelEngine({"compute": "numpy"})  # the reference the issue compares with
    native_engine = pxos_pixellm.PixelEngine({})  # the compiled C kernels, where they build (shown beside)
    path = numpy_engine.resolve("default")
    gpu_engine = GpuEngine({})
    counter = Counting(gpu_engine.gpu.device)
    gpu_model = gpu_engine.load(str(path))
    moved = dict(counter.bytes)  # the load only (decoding writes two numbers and the token ids a step)
    cpu_model = numpy_engine.transformer(str(path))
    native_model = native_engine.transformer(str(path))
    payload = pxos_pixellm.open_model(path, verify=False)
    tensor_bytes = sum(entry.length for entry in payload.tensors)
    prompt = list(b"def read_config(path):\n    ")

    runs = rounds({"gpu": lambda: greedy(gpu_model, prompt, args.tokens),
                   "numpy": lambda: greedy(cpu_model, prompt, args.tokens),
                   "native": lambda: greedy(native_model, prompt, args.tokens)}, args.rounds)
    same = runs["gpu"][0].tokens == runs["numpy"][0].tokens
    gpu_tps, numpy_tps, native_tps = decode_rate(runs["gpu"]), decode_rate(runs["numpy"]), decode_rate(runs["native"])
    adapter = gpu_engine.gpu.info
    weights = sum(n for label, n in moved.items() if ":" in label)  # "tensor:part" buffers
    tables = sum(n for label, n in moved.items() if label in ("cos", "sin"))
    report(f"decode, batch 1, KV cache, {args.tokens} greedy tokens after a {len(prompt)}-byte prompt, shipped model "
           f"(fp16), numpy on {args.threads} thread(s), median of {args.rounds}; adapter {adapter.line()}", [
               ("pixellm-gpu", f"{gpu_tps:.1f} tok/s decode, {prefill_rate(runs['gpu'], len(prompt)):.1f} tok/s "
                               "prompt"),
               ("pixellm numpy", f"{numpy_tps:.1f} tok/s decode, {prefill_rate(runs['numpy'], len(prompt)):.1f} tok/s "
                                 "prompt"),
               ("pixellm compiled", f"{native_tps:.1f} tok/s decode, {prefill_rate(runs['native'], len(prompt)):.1f} "
                                    f"tok/s prompt  (C kernels: {native_engine.compute_report()['backend']})"),
               ("ratio", f"{gpu_tps / numpy_tps:.3f}x numpy, {gpu_tps / native_tps:.3f}x compiled  (report only"
                         f"{': a software adapter runs WGSL on the CPU, not expected to win' if adapter.software else ''})"),
               ("same tokens", "yes" if same else "NO"),
           ])
    ratio = weights / tensor_bytes
    report("bytes moved to the GPU by one model load", [
        ("weights", f"{weights} bytes for {tensor_bytes} tensor payload bytes = {ratio:.4f}x  "
                    f"(target 1.0x: {verdict(ratio <= 1.0 + 4 * len(payload.tensors) / tensor_bytes)})"),
        ("rotary tables", f"{tables} bytes (cos and sin per position, derived from the config)"),
        ("everything", f"{sum(moved.values())} bytes = {sum(moved.values()) / tensor_bytes:.4f}x the tensor payload "
                       "(weights, tables and kernel parameters)"),
    ])


if __name__ == "__main__":
    main()
