"""The training corpus: Python's own standard library sources.

Every machine that runs pxOS has them, so the default model can be retrained
anywhere with no download. The file list and the train/held-out split are
deterministic: files are sorted by their path relative to the stdlib root, and
a file is held out when the first byte of the sha256 of that path is 0 mod 20
(about 5% of the files). The split depends only on names, never on contents,
so adding a file elsewhere never moves another file across the split.

The held-out excerpt the shipped model is evaluated on is stored in the
package (``data/heldout.txt``) together with the list of held-out files it
came from, so ``model eval`` measures the same text on any machine even when
that machine's Python differs from the one the model was trained on.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

# Directories left out: third-party code, the test suite (huge and repetitive),
# generated tables (encodings, pydoc topics) and build configuration.
EXCLUDED_DIRS = frozenset({
    "site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "encodings",
    "pydoc_data", "turtledemo", "__pycache__",
})
HELD_OUT_MODULUS = 20


@dataclass(frozen=True)
class CorpusSplit:
    """The sorted file lists of both halves of the split."""

    root: Path
    train: tuple[str, ...]
    held_out: tuple[str, ...]

    def read(self, names: tuple[str, ...]) -> bytes:
        """The named files' bytes, concatenated in the given order."""
        return b"".join((self.root / name).read_bytes() for name in names)


def stdlib_root() -> Path:
    """Where this interpreter's pure-Python standard library lives."""
    return Path(sysconfig.get_paths()["stdlib"])


def is_held_out(relative_path: str) -> bool:
    """Whether ``relative_path`` (posix, relative to the stdlib root) belongs to the held-out split."""
    return hashlib.sha256(relative_path.encode("utf-8")).digest()[0] % HELD_OUT_MODULUS == 0


def stdlib_split(root: Path | None = None) -> CorpusSplit:
    """List the corpus files under ``root`` (default: this interpreter's stdlib) and split them."""
    root = root or stdlib_root()
    names: list[str] = []
    for directory, subdirs, files in os.walk(root):
        # Pruned in place, so the walk never enters site-packages or the test suite (tens of thousands of files).
        subdirs[:] = [d for d in subdirs if d not in EXCLUDED_DIRS and not d.startswith("config-")]
        relative = Path(directory).relative_to(root)
        names.extend((relative / name).as_posix() for name in files if name.endswith(".py"))
    names.sort()
    train = tuple(n for n in names if not is_held_out(n))
    held_out = tuple(n for n in names if is_held_out(n))
    return CorpusSplit(root=root, train=train, held_out=held_out)


def held_out_excerpt(split: CorpusSplit, size: int) -> bytes:
    """The first ``size`` bytes (cut back to the last full line) of the held-out files."""
    text = split.read(split.held_out)[:size]
    cut = text.rfind(b"\n")
    return text[: cut + 1] if cut >= 0 else text


def describe_python() -> str:
    """Which interpreter's stdlib this is, for the training record."""
    return f"CPython {sys.version.split()[0]} stdlib ({sys.platform})"
