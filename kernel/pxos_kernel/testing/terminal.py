"""Running a command as a user at a terminal would: stderr on a pseudo-terminal, stdout on a pipe.

This is how tests see what a progress bar (``pxos_kernel.progress``) draws,
and check that stdout carries only the command's result.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios
import threading
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence


@dataclass(frozen=True)
class TerminalRun:
    """What :func:`run_on_terminal` saw."""

    exit_code: int
    stdout: str
    terminal: str  # everything written to stderr, the pseudo-terminal (carriage returns and escapes included)


def run_on_terminal(argv: Sequence[str], *, env: Optional[Mapping[str, str]] = None, columns: int = 100,
                    timeout: float = 120.0) -> TerminalRun:
    """Run ``argv`` with stderr on a new pseudo-terminal ``columns`` wide, stdin empty and stdout a pipe.

    For example::

        done = run_on_terminal([sys.executable, "-m", "pxos_kernel", "model", "eval", "notes.txt"])
        assert "model eval" in done.terminal and "%|" in done.terminal

    ``env`` replaces the environment (default: this process's), with
    ``TERM=xterm`` unless it names a ``TERM``.
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    environment = {**(os.environ if env is None else env)}
    environment.setdefault("TERM", "xterm")
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                                env=environment)
    finally:
        os.close(slave)
    seen: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal's other end has closed it
                return
            if not chunk:
                return
            seen.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    finally:
        reader.join(timeout=5)
        os.close(master)
    return TerminalRun(proc.returncode, out.decode("utf-8", "replace"),
                       b"".join(seen).decode("utf-8", "replace"))
