"""Tokenizer throughput of a model's stored tokenizer against the ``tokenizers`` library alone.

A byte-level BPE tokenizer (8,000 tokens, Qwen2's split rule) is trained here
on the standard library's sources and stored in a model container; pixellm's
tokenizer (``ModelFile.tokenizer()``, what generation, chat and evaluation use)
is timed against ``tokenizers.Tokenizer.encode`` on the same object, for one
whole 64 KiB text and for its lines one by one, and decoding. Target: at least
0.9x (it should be the library itself plus its checks).

    python bench/pixellm_tokenizer.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers.models import BPE

    from _timing import interleaved, median, report
    from pxos_pixellm.config import ModelConfig
    from pxos_pixellm.container import open_model, save_model
    from pxos_pixellm.corpus import stdlib_split
    from pxos_pixellm.engine import shipped_held_out_path
    from pxos_pixellm.model import expected_shapes
    from pxos_pixellm.tokenizer import tokenizer_section

    import numpy as np

    split = stdlib_split()
    corpus = split.read(split.train[:200]).decode("utf-8", "replace")
    library = Tokenizer(BPE())
    library.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    library.decoder = decoders.ByteLevel()
    library.train_from_iterator([corpus], trainers.BpeTrainer(vocab_size=8000, show_progress=False,
                                                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    blob = library.to_str().encode()
    config = ModelConfig(vocab_size=8000, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64, tokenizer="hf")
    tensors = {n: np.zeros(s, np.float32) for n, s in expected_shapes(config).items()}
    with tempfile.TemporaryDirectory() as tmp:
        save_model(Path(tmp) / "m.pxi", config, tensors, encoding="fp16",
                   tokenizer=(tokenizer_section("hf", blob=blob), blob))
        ours = open_model(Path(tmp) / "m.pxi").tokenizer()
    text = shipped_held_out_path().read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    ids = library.encode(text).ids
    assert ours.encode(text) == ids
    candidates = {
        "library, whole text": lambda: library.encode(text).ids,
        "pixellm, whole text": lambda: ours.encode(text),
        "library, line by line": lambda: [library.encode(line).ids for line in lines],
        "pixellm, line by line": lambda: [ours.encode(line) for line in lines],
        "library, decode": lambda: library.decode(ids),
        "pixellm, decode": lambda: ours.decode(ids),
    }
    samples = interleaved(candidates, rounds=args.rounds)
    rows, missed = [], 0
    for what in ("whole text", "line by line", "decode"):
        base, mine = median(samples[f"library, {what}"]), median(samples[f"pixellm, {what}"])
        ratio = base / mine
        missed += ratio < 0.9
        rows.append((what, f"library {1000 * base:7.2f} ms  pixellm {1000 * mine:7.2f} ms  throughput "
                     f"{ratio:4.2f}x (target >= 0.9x) {'ok' if ratio >= 0.9 else 'MISSED'}"))
    report(f"tokenizer, {len(text)} bytes ({len(lines)} lines, {len(ids)} tokens), median of {args.rounds}", rows)
    print("ok" if not missed else "MISSED")


if __name__ == "__main__":
    main()
