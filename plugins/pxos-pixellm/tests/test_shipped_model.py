"""The shipped model meets the issue's target on its held-out text: under 0.8x gzip -9's bits per byte."""

from __future__ import annotations

import json

from pxos_pixellm.container import load_model
from pxos_pixellm.engine import shipped_held_out_path, shipped_model_path
from pxos_pixellm.evaluate import evaluate
from pxos_pixellm.container import open_model
from pxos_pixellm.model import build_transformer


def test_shipped_model_is_small_and_documented():
    assert shipped_model_path().stat().st_size < 8_000_000
    loaded = load_model(shipped_model_path())
    assert loaded.config.tokenizer == "bytes"
    assert loaded.info["corpus"]["split_rule"] and loaded.info["curve"]
    record = json.loads((shipped_model_path().parent / "training.json").read_text())
    assert record["corpus"]["held_out_files"] and record["corpus"]["train_files"]


def test_shipped_model_beats_gzip_by_the_target_margin_on_held_out_text():
    text = shipped_held_out_path().read_bytes()
    result = evaluate(build_transformer(open_model(shipped_model_path())), text, "held-out")
    assert result.size == len(text) > 60_000
    assert result.bits_per_byte < 0.8 * result.gzip_bits_per_byte, result.to_dict()
