"""How tasks become prompts, and how model output becomes a proposal.

Both agents use one plain-text format. A file is written as a fenced block
whose opening line names it::

    ```file:calc.py
    def add(a, b):
        return a + b
    ```

A completion model (pixellm-local) is given the task and then the opening
line of the file to write, and continues from there up to the closing fence.
A chat model (openai-compatible) is asked to answer with such blocks. Either
way the proposal carries the new file contents (``meta["files"]``) and a
unified diff against the task's files (``patch``), computed here.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from typing import Iterable, Mapping, Optional

from pxos_kernel import Task

FENCE = "```"
_BLOCK = re.compile(r"^```file:(?P<path>[^\s`]+)[ \t]*\n(?P<body>.*?)(?:^```[ \t]*$|\Z)", re.S | re.M)


def file_header(path: str) -> str:
    """The opening line of a fenced file block."""
    return f"{FENCE}file:{path}\n"


def describe_task(task: Task, memory: Iterable[Mapping] = ()) -> str:
    """The task as text: goal, context, prior work from memory, current files."""
    parts = [f"# Task\n{task.goal.strip()}\n"]
    if task.context.strip():
        parts.append(f"# Context\n{task.context.strip()}\n")
    notes = [f"- {m['atom_id']} ({m['kind']}): {m['title']}" for m in memory]
    if notes:
        parts.append("# Prior work (from memory)\n" + "\n".join(notes) + "\n")
    if task.test_command:
        parts.append(f"# Tests\n{' '.join(task.test_command)}\n")
    for path, text in sorted(task.files.items()):
        body = text if text.endswith("\n") or not text else text + "\n"
        parts.append(f"# Current {path}\n{file_header(path)}{body}{FENCE}\n")
    return "\n".join(parts)


CHAT_INSTRUCTIONS = (
    "You are a careful software engineer. First explain your reasoning in a few sentences. "
    "Then give the complete new content of every file you change, each in a block that opens with "
    "a line ```file:PATH and closes with a line ```."
)


#: Where a completion model's reasoning ends: a fence or the next heading.
REASONING_STOP = (FENCE, "\n# ")


def reasoning_prompt(task: Task, memory: Iterable[Mapping] = ()) -> str:
    """A prompt a completion model continues with its reasoning about ``task``."""
    return f"{describe_task(task, memory)}\n# Reasoning\n"


def completion_prompt(task: Task, path: str, memory: Iterable[Mapping] = ()) -> str:
    """A prompt a completion model continues with the new content of ``path``."""
    return f"{describe_task(task, memory)}\n# Proposed {path}\n{file_header(path)}"


def parse_files(text: str) -> dict[str, str]:
    """Every ``file:PATH`` block in ``text`` (the last one wins for a repeated path)."""
    files = {}
    for match in _BLOCK.finditer(text):
        files[match.group("path")] = match.group("body")
    return files


def reasoning_of(text: str) -> str:
    """What the model wrote before its first file block."""
    return text.split(f"{FENCE}file:", 1)[0].strip()


def make_patch(old: Mapping[str, str], new: Mapping[str, str]) -> Optional[str]:
    """A unified diff from ``old`` to ``new`` files, or ``None`` when nothing changes."""
    chunks: list[str] = []
    for path in sorted(new):
        before = old.get(path, "")
        if before == new[path]:
            continue
        chunks.extend(difflib.unified_diff(
            before.splitlines(keepends=True), new[path].splitlines(keepends=True),
            fromfile=f"a/{path}" if path in old else "/dev/null", tofile=f"b/{path}"))
    if not chunks:
        return None
    return "".join(c if c.endswith("\n") else c + "\n\\ No newline at end of file\n" for c in chunks)


def digest(text: str) -> str:
    """``sha256:<hex>`` of a text, as written to the ledger instead of the text itself."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
