"""Decode speed of the pixellm engine against the same weights in PyTorch (eager), batch 1, KV cache.

Both sides load the shipped model (pixellm as its engine computes: the
compiled kernels on the stored fp16 weights; torch through Hugging Face's
LlamaForCausalLM, eager attention, float32, from the model exported to
safetensors), use the same number of threads (--threads, default 1: the
machine is shared), prefill the same prompt and then decode the same number
of tokens greedily, one token a step with a KV cache. Rounds alternate between
the two so that machine load hits both alike; medians are reported.

    python bench/pixellm_decode.py [--tokens 64] [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy and torch load their BLAS

    import torch
    import transformers

    from _timing import interleaved, median, report
    from pxos_pixellm import native
    from pxos_pixellm.container import open_model
    from pxos_pixellm.convert import export_hf_directory
    from pxos_pixellm.engine import shipped_model_path
    from pxos_pixellm.generation import token_ids
    from pxos_pixellm.model import build_transformer

    torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()
    ours = build_transformer(open_model(shipped_model_path()))
    native.set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        export_hf_directory(shipped_model_path(), Path(tmp))
        theirs = transformers.LlamaForCausalLM.from_pretrained(tmp, attn_implementation="eager",
                                                               dtype=torch.float32).eval()
    prompt = list(b"def read_config(path):\n    ")

    def pixellm_decode() -> list[int]:  # the engine's own generation loop, greedy
        return list(token_ids(ours, prompt, max_tokens=args.tokens, temperature=0))

    def torch_decode() -> list[int]:
        with torch.inference_mode():
            result = theirs(torch.tensor([prompt]), use_cache=True)
            past, logits = result.past_key_values, result.logits[0, -1]
            out = []
            for _ in range(args.tokens):
                token = int(torch.argmax(logits))
                out.append(token)
                result = theirs(torch.tensor([[token]]), past_key_values=past, use_cache=True)
                past, logits = result.past_key_values, result.logits[0, -1]
        return out

    same = pixellm_decode() == torch_decode()
    samples = interleaved({"pixellm": pixellm_decode, "torch": torch_decode}, rounds=args.rounds, warmup=1)
    ours_tps = args.tokens / median(samples["pixellm"])
    torch_tps = args.tokens / median(samples["torch"])
    report(f"decode, batch 1, KV cache, {args.tokens} tokens after a {len(prompt)}-byte prompt, "
           f"{args.threads} thread(s), median of {args.rounds}", [
               (f"pixellm ({ours.backend})", f"{ours_tps:8.1f} tokens/s"),
               ("torch eager (transformers)", f"{torch_tps:8.1f} tokens/s"),
               ("ratio pixellm / torch", f"{ours_tps / torch_tps:8.2f}x  (target >= 1.2x)  "
                f"{'ok' if ours_tps / torch_tps >= 1.2 else 'MISSED'}"),
               ("same greedy tokens", str(same)),
           ])


if __name__ == "__main__":
    main()
