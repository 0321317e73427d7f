"""The training script: a few steps of a tiny model, its record, and its export to the numpy engine."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pxos_pixellm.corpus import is_held_out, stdlib_split


def test_split_is_deterministic_and_disjoint():
    split = stdlib_split()
    assert split.train and split.held_out and not set(split.train) & set(split.held_out)
    assert list(split.train) == sorted(split.train) and all(is_held_out(n) for n in split.held_out)
    assert stdlib_split() == split


def test_a_short_run_trains_records_and_exports_to_the_same_function(tmp_path):
    torch = pytest.importorskip("torch")
    from pxos_pixellm.container import load_model
    from pxos_pixellm.model import Transformer
    from pxos_pixellm.train import build_torch_model, main
    from pxos_pixellm.train_export import main as export

    run = tmp_path / "run"
    argv = ["--out", str(run), "--layers", "1", "--hidden", "32", "--heads", "2", "--intermediate", "64",
            "--context", "32", "--batch", "2", "--steps", "3", "--warmup", "1", "--eval-every", "3",
            "--save-every", "3", "--log-every", "1", "--threads", "1", "--fp32"]
    assert main(argv) == 0
    record = json.loads((run / "training.json").read_text())
    assert record["curve"][-1]["step"] == 3 and record["corpus"]["held_out_files"]
    assert len((run / "train.log").read_text().splitlines()) >= 4

    dest = tmp_path / "data"
    assert export([str(run), "--encoding", "fp32", "--dest", str(dest)]) == 0
    loaded = load_model(dest / "default.pxi")
    assert loaded.info["step"] == 3 and (dest / "heldout.txt").read_bytes()

    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    reference = build_torch_model(loaded.config)
    reference.load_state_dict(checkpoint["state_dict"])
    ids = np.frombuffer(b"def add(a, b):\n    return a + b\n"[:32], dtype=np.uint8).astype(np.int64)
    with torch.no_grad():
        expected = reference(torch.from_numpy(ids)[None])[0].numpy()
    np.testing.assert_allclose(Transformer(loaded.config, loaded.tensors).forward(ids), expected, atol=1e-4)


def test_phased_run_stops_early_and_resumes(tmp_path):
    pytest.importorskip("torch")
    from pxos_pixellm.train import main

    tiny = ["--layers", "1", "--hidden", "32", "--heads", "2", "--intermediate", "64", "--context", "32",
            "--batch", "2", "--warmup", "1", "--eval-every", "2", "--save-every", "2", "--threads", "1", "--fp32"]
    assert main(["--out", str(tmp_path / "one"), "--steps", "10", "--stop-at", "2", *tiny]) == 0
    first = json.loads((tmp_path / "one" / "training.json").read_text())
    assert [point["step"] for point in first["curve"]] == [2]
    assert main(["--out", str(tmp_path / "two"), "--steps", "2", "--resume",
                 str(tmp_path / "one" / "checkpoint.pt"), *tiny]) == 0
    second = json.loads((tmp_path / "two" / "training.json").read_text())
    assert second["resumed_from"]["step"] == 2 and second["resumed_from"]["curve"] == first["curve"]
