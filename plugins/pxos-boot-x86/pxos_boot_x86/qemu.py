"""Running boot images in QEMU: interactively (``boot run``) or driven by a program.

:class:`QemuMachine` boots an image headless and talks to QEMU's monitor over
QMP (its JSON protocol) on a unix socket: it types keys with ``send-key`` and
reads the VGA text buffer at 0xB8000 with ``pmemsave``. The tests, the README
transcript and anyone scripting the shell use it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

from pxos_kernel import BootError

from pxos_boot_x86.bootsector import FLOPPY_SIZE
from pxos_boot_x86.errors import QemuNotFoundError

QEMU = "qemu-system-i386"
DEBIAN_PACKAGE = "qemu-system-x86"
VGA_TEXT = 0xB8000             # the colour text buffer: 80x25 cells of (character, attribute)
COLUMNS, ROWS = 80, 25


def find_qemu() -> str:
    """The path of ``qemu-system-i386``, or a :class:`QemuNotFoundError` saying how to install it."""
    found = shutil.which(QEMU)
    if not found:
        raise QemuNotFoundError(f"{QEMU} is not installed: install it with "
                                f"'sudo apt-get install {DEBIAN_PACKAGE}' (Debian/Ubuntu)")
    return found


def machine_args(image: Union[str, Path]) -> list[str]:
    """QEMU arguments booting ``image``: a floppy if it is 1.44 MB, else a hard disk.

    ``-snapshot`` keeps the image unmodified and unlocked, so several machines
    can boot one image; without a network card no PXE ROM slows the boot.
    """
    image = Path(image)
    try:
        size = image.stat().st_size
    except OSError as error:
        raise BootError(f"cannot read boot image {image}: {error.strerror}") from None
    interface, order = ("floppy", "a") if size == FLOPPY_SIZE else ("ide", "c")
    return ["-drive", f"file={image},format=raw,if={interface}", "-boot", f"order={order}",
            "-snapshot", "-nic", "none", "-m", "16", "-no-reboot"]


def run(path: Union[str, Path], options: Mapping[str, Any]) -> int:
    """Start ``path`` in QEMU and wait for it to end; return QEMU's exit code.

    In a terminal, the screen is drawn in the terminal (``-display curses``;
    Alt+2 opens the monitor, where ``quit`` ends it). With ``headless``, there
    is no display and the QEMU monitor is on stdin/stdout. An ``output`` file
    receives what QEMU writes (the monitor's answers) instead of stdout.
    """
    qemu = find_qemu()
    output = options.get("output")
    if output is not None:
        with tempfile.TemporaryFile(prefix="pxos-qemu-") as console:
            code = subprocess.run([qemu, "-display", "none", "-monitor", "stdio", *machine_args(path)],
                                  stdout=console, stderr=subprocess.STDOUT).returncode
            console.seek(0)
            output.write(monitor_transcript(console.read().decode("utf-8", "replace")).encode("utf-8"))
        return code
    if options.get("headless"):
        display = ["-display", "none", "-monitor", "stdio"]
    elif sys.stdin.isatty() and sys.stdout.isatty():
        display = ["-display", "curses"]
    else:
        raise BootError("boot run needs a terminal to draw the screen in: run it in one, or pass --headless")
    return subprocess.run([qemu, *display, *machine_args(path)]).returncode


def monitor_transcript(console: str) -> str:
    """What QEMU's monitor console shows, without its line editor's redrawing.

    The monitor echoes each typed character by redrawing the line with
    cursor-left (``ESC [ D``) and erase-to-end (``ESC [ K``) sequences; this
    replays them, so ``(qemu) info status`` reads as one line.
    """
    lines = []
    for raw in console.replace("\r\n", "\n").split("\n"):
        line: list[str] = []
        cursor = 0
        for token in re.findall(r"\x1b\[[0-9;]*[A-Za-z]|\r|[^\x1b\r]", raw):
            if token == "\x1b[D":
                cursor = max(cursor - 1, 0)
            elif token == "\x1b[K":
                del line[cursor:]
            elif token == "\r":
                cursor = 0
            elif not token.startswith("\x1b"):
                line[cursor:cursor + 1] = [token]
                cursor += 1
        lines.append("".join(line))
    return "\n".join(lines)


# Keys QEMU calls by another name than the character (qcodes), and shifted characters.
_NAMED = {" ": "spc", "\n": "ret", "\r": "ret", "\b": "backspace", "\t": "tab", "-": "minus", "=": "equal",
          ",": "comma", ".": "dot", "/": "slash", ";": "semicolon", "'": "apostrophe", "`": "grave_accent",
          "[": "bracket_left", "]": "bracket_right", "\\": "backslash"}
_SHIFTED = dict(zip('!@#$%^&*()_+:"<>?{}|~', "1234567890-=;',./[]\\`"))


def keys_for(char: str) -> list[str]:
    """The QEMU key codes (qcodes) that type ``char`` on a US keyboard."""
    if char.isascii() and char.isupper():
        return ["shift", char.lower()]
    if char in _SHIFTED:
        return ["shift", *keys_for(_SHIFTED[char])]
    if char in _NAMED:
        return [_NAMED[char]]
    if char.isascii() and char.isalnum():
        return [char]
    raise BootError(f"cannot type {char!r}: no key for it on a US keyboard")


class QemuMachine:
    """A headless QEMU booting ``image``, driven over QMP. Use it as a context manager::

        with QemuMachine("x86-bios.img") as machine:
            machine.wait_for_text("pxOS v1> ")
            machine.type("echo hi\\n")
            print("\\n".join(machine.screen()))
    """

    def __init__(self, image: Union[str, Path], *, timeout: float = 20.0) -> None:
        self.image = Path(image)
        self.timeout = timeout
        self._process: Optional[subprocess.Popen] = None
        self._socket: Optional[socket.socket] = None
        self._buffer = b""
        self._workdir = ""

    # -- life cycle -----------------------------------------------------------------

    def __enter__(self) -> "QemuMachine":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def start(self) -> None:
        """Start QEMU and connect to its monitor; raises :class:`BootError` if it does not come up."""
        qemu = find_qemu()
        args = machine_args(self.image)
        self._workdir = tempfile.mkdtemp(prefix="pxos-qemu-")
        monitor = os.path.join(self._workdir, "qmp.sock")
        log = open(os.path.join(self._workdir, "qemu.log"), "wb")
        self._process = subprocess.Popen(
            [qemu, "-display", "none", "-qmp", f"unix:{monitor},server=on,wait=off", *args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self._socket = connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                connection.settimeout(self.timeout)
                connection.connect(monitor)
                break
            except OSError:
                connection.close()
                self._socket = None
                if self._process.poll() is not None or time.monotonic() > deadline:
                    problem = self._log_tail() or f"no monitor socket after {self.timeout:.0f}s"
                    self.close()
                    raise BootError(f"{QEMU} did not start: {problem}") from None
                time.sleep(0.02)
        self._read_message()  # the greeting
        self.execute("qmp_capabilities")

    def close(self) -> None:
        """Quit QEMU (killing it if it does not quit) and remove the scratch files."""
        if self._process is not None and self._process.poll() is None:
            try:
                if self._socket is not None:
                    self._send({"execute": "quit"})
                self._process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = ""

    # -- the monitor ------------------------------------------------------------------

    def execute(self, command: str, **arguments: Any) -> Any:
        """Run one QMP command and return its result; QMP errors become :class:`BootError`."""
        self._send({"execute": command, **({"arguments": arguments} if arguments else {})})
        while True:
            message = self._read_message()
            if "return" in message:
                return message["return"]
            if "error" in message:
                raise BootError(f"QEMU refused {command}: {message['error'].get('desc', message['error'])}")
            # anything else is an asynchronous event: skip it

    def _send(self, message: dict) -> None:
        assert self._socket is not None, "the machine is not started"
        self._socket.sendall(json.dumps(message).encode() + b"\n")

    def _read_message(self) -> dict:
        assert self._socket is not None, "the machine is not started"
        while b"\n" not in self._buffer:
            try:
                chunk = self._socket.recv(65536)
            except socket.timeout:
                raise BootError(f"QEMU's monitor did not answer within {self.timeout:.0f}s") from None
            if not chunk:
                raise BootError(f"QEMU closed its monitor: {self._log_tail() or 'it exited'}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _log_tail(self) -> str:
        try:
            lines = Path(self._workdir, "qemu.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    # -- keyboard and screen ----------------------------------------------------------

    def send_key(self, *qcodes: str, hold_ms: int = 10) -> None:
        """Press ``qcodes`` together (e.g. ``"shift", "a"``) and release them."""
        self.execute("send-key", keys=[{"type": "qcode", "data": code} for code in qcodes],
                     **{"hold-time": hold_ms})

    def type(self, text: str) -> None:
        """Type ``text`` key by key (``\\n`` is Enter, ``\\b`` is Backspace); QEMU queues them in order."""
        for char in text:
            self.send_key(*keys_for(char))

    def screen_bytes(self) -> bytes:
        """The raw VGA text buffer: 2,000 (character, attribute) byte pairs."""
        dump = os.path.join(self._workdir, "vga.bin")
        self.execute("pmemsave", val=VGA_TEXT, size=COLUMNS * ROWS * 2, filename=dump)
        return Path(dump).read_bytes()

    def screen(self) -> list[str]:
        """The 25 text rows on screen, trailing blanks removed."""
        cells = self.screen_bytes()[0::2]
        return [cells[r * COLUMNS:(r + 1) * COLUMNS].decode("cp437").rstrip() for r in range(ROWS)]

    def wait_for(self, condition: Callable[[list[str]], bool], *, timeout: Optional[float] = None,
                 what: str = "the expected screen") -> list[str]:
        """Poll the screen until ``condition(rows)`` holds; return the rows, or raise BootError."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            rows = self.screen()
            if condition(rows):
                return rows
            if time.monotonic() > deadline:
                shown = "\n".join(row for row in rows if row)
                raise BootError(f"timed out waiting for {what}; the screen shows:\n{shown}")
            time.sleep(0.02)

    def wait_for_text(self, text: str, **kwargs: Any) -> list[str]:
        """Poll the screen until ``text`` appears on it."""
        return self.wait_for(lambda rows: any(text in row for row in rows), what=repr(text), **kwargs)


def _die_with_parent() -> None:
    """In the child: ask Linux to kill QEMU if the process that started it dies."""
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
