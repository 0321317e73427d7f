"""Turn a training run's torch checkpoint into the shipped model files (needs torch).

    python -m pxos_pixellm.train_export RUN_DIR [--encoding fp16] [--dest pxos_pixellm/data]

writes ``default.pxi`` (the model container, with the training record in its
``info``), ``heldout.txt`` and ``training.json`` into ``--dest`` (default:
this package's ``data`` directory).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from .config import ModelConfig
from .container import save_model


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(prog="python -m pxos_pixellm.train_export", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the --out directory of python -m pxos_pixellm.train")
    parser.add_argument("--encoding", default="fp16", choices=("fp32", "fp16", "bf16", "int8", "uint8"))
    parser.add_argument("--dest", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args(argv)
    checkpoint = torch.load(args.run / "checkpoint.pt", map_location="cpu", weights_only=True)
    config = ModelConfig.from_dict(checkpoint["config"], str(args.run / "checkpoint.pt"))
    tensors = {name: value.float().numpy() for name, value in checkpoint["state_dict"].items()}
    record_path = args.run / "training.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    info = {
        "source": "trained by python -m pxos_pixellm.train",
        "step": checkpoint.get("step"),
        "corpus": {k: v for k, v in record.get("corpus", {}).items() if not k.endswith("_files")},
        "hyperparameters": record.get("hyperparameters", {}),
        "curve": record.get("curve", []),
    }
    args.dest.mkdir(parents=True, exist_ok=True)
    save_model(args.dest / "default.pxi", config, tensors, encoding=args.encoding, info=info,
               dtypes={name: "float32" for name in tensors})
    shutil.copyfile(args.run / "heldout.txt", args.dest / "heldout.txt")
    if record:
        shutil.copyfile(record_path, args.dest / "training.json")
    print(f"wrote {args.dest / 'default.pxi'} (step {checkpoint.get('step')}, {args.encoding})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
