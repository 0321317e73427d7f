"""Reading primitive source: lines into statements, operands into values.

A line is ``COMMAND operand operand ...``; operands are separated by spaces or
commas. ``#`` (outside quotes) and a standalone ``COMMENT`` word end the code
part of a line. An operand is a string (``"text"``, only where DB allows it) or
an expression: terms joined by ``+`` and ``-``, each term a number (``0x7C00``,
``0b1010``, ``31744``), a character (``'A'``), ``$`` (the address of the
statement) or a label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from pxos_boot_x86.errors import AssemblyError

_TOKEN = re.compile(r"""
    \s* (?:
      (?P<comment> \#.* )
    | (?P<comma> , )
    | (?P<token> (?: "(?:[^"\\]|\\.)*" | '(?:[^'\\]|\\.)*' | [^\s,"'\#] )+ )
    )""", re.VERBOSE)
_TERM = re.compile(r"""\s*(?P<sign>[+-]?)\s*(?P<term>
      0[xX][0-9a-fA-F]+ | 0[bB][01]+ | \d+ | '(?:[^'\\]|\\.)' | \$ | [A-Za-z_.][A-Za-z0-9_.]*
    )\s*""", re.VERBOSE)
LABEL_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_ESCAPES = {"n": 10, "r": 13, "t": 9, "0": 0, "\\": 92, '"': 34, "'": 39}


@dataclass(frozen=True)
class Statement:
    """One source line that does something: where it is, its command and its operands."""

    filename: str
    line: int
    text: str
    command: str
    operands: tuple[str, ...]

    def error(self, problem: str) -> AssemblyError:
        """An error at this statement's file and line."""
        return AssemblyError(self.filename, self.line, problem)


def statements(text: str, filename: str) -> Iterator[Statement]:
    """The statements of a source text, skipping blank lines and comments."""
    for number, raw in enumerate(text.splitlines(), start=1):
        tokens = _tokens(raw, filename, number)
        if tokens:
            yield Statement(filename, number, raw.strip(), tokens[0].upper(), tuple(tokens[1:]))


def _tokens(raw: str, filename: str, number: int) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(raw) and raw[position:].strip():
        match = _TOKEN.match(raw, position)
        if not match:
            raise AssemblyError(filename, number, f"unterminated quote in {raw[position:].strip()!r}")
        position = match.end()
        if match["comment"]:
            break
        if match["token"]:
            if match["token"].upper() == "COMMENT":
                break
            tokens.append(match["token"])
    return tokens


def is_string(operand: str) -> bool:
    """Whether an operand is a double-quoted string."""
    return len(operand) >= 2 and operand[0] == operand[-1] == '"'


def string_bytes(operand: str, statement: Statement) -> bytes:
    """The bytes of a double-quoted string (ASCII, with \\n \\r \\t \\0 \\\\ \\" \\' \\xHH escapes)."""
    body, out, i = operand[1:-1], bytearray(), 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            code, i = _escape(body, i, statement)
            out.append(code)
            continue
        if ord(char) > 126 or ord(char) < 32:
            raise statement.error(f"character {char!r} in {operand} is not printable ASCII: use a byte value")
        out.append(ord(char))
        i += 1
    return bytes(out)


def _escape(body: str, i: int, statement: Statement) -> tuple[int, int]:
    """The byte of the escape starting at ``body[i]`` (a backslash) and the index after it."""
    kind = body[i + 1: i + 2]
    if kind in _ESCAPES:
        return _ESCAPES[kind], i + 2
    if kind == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2: i + 4]):
        return int(body[i + 2: i + 4], 16), i + 4
    raise statement.error(f"unknown escape '\\{kind}' in a string")


def evaluate(expression: str, here: Optional[int], lookup: Callable[[str], int], statement: Statement) -> int:
    """The value of ``expression``; ``$`` is ``here`` (``None``: not allowed), labels come from ``lookup``."""
    if is_string(expression):
        raise statement.error(f"a string ({expression}) cannot be used here; strings only go in DB")
    total, position, first = 0, 0, True
    while position < len(expression):
        match = _TERM.match(expression, position)
        if not match or (not first and not match["sign"]):
            raise statement.error(f"cannot read the value {expression!r}: expected numbers, 'c', $ "
                                  "or labels joined by + and -")
        value = _term(match["term"], here, lookup, statement)
        total += -value if match["sign"] == "-" else value
        position, first = match.end(), False
    if first:
        raise statement.error("missing value")
    return total


def _term(term: str, here: Optional[int], lookup: Callable[[str], int], statement: Statement) -> int:
    if term[0].isdigit():
        return int(term, 0) if term[:2].lower() in ("0x", "0b") else int(term, 10)
    if term[0] == "'":
        body = term[1:-1]
        return _escape(body, 0, statement)[0] if body.startswith("\\") else _printable(body, statement)
    if term == "$":
        if here is None:
            raise statement.error(f"$ (the current address) has no meaning in {statement.command}")
        return here
    return lookup(term)


def _printable(char: str, statement: Statement) -> int:
    if not 32 <= ord(char) <= 126:
        raise statement.error(f"character {char!r} is not printable ASCII: use a byte value")
    return ord(char)
