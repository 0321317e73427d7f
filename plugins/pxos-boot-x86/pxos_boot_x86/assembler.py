"""The primitive assembler: pxOS's WRITE/DEFINE language, made safe to build with.

The commands (case-insensitive; labels are case-sensitive)::

    ORG 0x7C00            the address the image is loaded at: address ORG is image byte 0.
                          Once, before any code.
    DEFINE name value     a named constant (an address or a number)
    LABEL name            name = the address the next byte goes to
    WRITE address byte    one byte at an absolute address (the seed's only way to emit)
    DB 0xB4, 0x0E, "hi"   bytes and ASCII strings at the current address
    DW msg, 0xAA55        16-bit little-endian words at the current address
    CALL target           near call:        E8 + 16-bit displacement
    JMP target            short jump:       EB + 8-bit displacement
    JMP NEAR target       near jump:        E9 + 16-bit displacement
    JE/JZ/JNE/JB/... target, JCXZ, LOOP   conditional short jumps: opcode + 8-bit displacement
    REL8 target, REL16 target              a bare displacement, for hand-built instructions
    COMMENT text, # text  comments (also at the end of a line)

Displacements are computed from the end of the instruction, so nobody
hand-computes them (the seed's four jumps were each off by one). Every problem
is an :class:`~pxos_boot_x86.errors.AssemblyError` naming the file and line:
unknown commands, values out of range, writes outside the image, two writes
to one byte, undefined labels.

Assembly is two passes: the first gives every label its address (each
statement's size is known without knowing label values), the second evaluates
operands and places bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from pxos_boot_x86.errors import AssemblyError
from pxos_boot_x86.source import LABEL_NAME, Statement, evaluate, is_string, statements, string_bytes

# Opcodes of the instructions that take an 8-bit displacement.
SHORT_JUMPS = {
    "JO": 0x70, "JNO": 0x71, "JB": 0x72, "JC": 0x72, "JNAE": 0x72, "JAE": 0x73, "JNB": 0x73,
    "JNC": 0x73, "JE": 0x74, "JZ": 0x74, "JNE": 0x75, "JNZ": 0x75, "JBE": 0x76, "JNA": 0x76,
    "JA": 0x77, "JNBE": 0x77, "JS": 0x78, "JNS": 0x79, "JP": 0x7A, "JPE": 0x7A, "JNP": 0x7B,
    "JPO": 0x7B, "JL": 0x7C, "JNGE": 0x7C, "JGE": 0x7D, "JNL": 0x7D, "JLE": 0x7E, "JNG": 0x7E,
    "JG": 0x7F, "JNLE": 0x7F, "JCXZ": 0xE3, "LOOP": 0xE2, "LOOPE": 0xE1, "LOOPZ": 0xE1,
    "LOOPNE": 0xE0, "LOOPNZ": 0xE0,
}
ADDRESS_SPACE = 0x10000  # real-mode offsets are 16 bits


@dataclass(frozen=True)
class ListingRow:
    """One line of the listing: the bytes a source line put where."""

    address: int
    data: bytes
    line: int
    source: str


@dataclass(frozen=True)
class Assembly:
    """The result of assembling: bytes from ``origin`` on, labels, and a listing."""

    filename: str
    origin: int
    code: bytes
    labels: dict[str, int]
    rows: tuple[ListingRow, ...]

    def listing(self) -> str:
        """The listing as text: address, bytes and source line, then the labels by address."""
        lines = [f"; {self.filename}: {len(self.code)} bytes from 0x{self.origin:04X}",
                 "addr  bytes                    line  source"]
        for row in self.rows:
            for start in range(0, max(len(row.data), 1), 8):
                chunk = " ".join(f"{b:02X}" for b in row.data[start:start + 8])
                text = f"{row.line:4d}  {row.source}" if start == 0 else ""
                lines.append(f"{row.address + start:04X}  {chunk:<23}  {text}".rstrip())
        lines.append("")
        lines.append("labels:")
        for name, value in sorted(self.labels.items(), key=lambda item: (item[1], item[0])):
            lines.append(f"  {value:04X}  {name}")
        return "\n".join(lines) + "\n"


def assemble_file(path: Union[str, Path], *, capacity: int = ADDRESS_SPACE, region: str = "") -> Assembly:
    """Assemble the primitive source file at ``path`` (see :func:`assemble`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AssemblyError(str(path), 0, "no such source file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AssemblyError(str(path), 0, f"cannot read the source: {error}") from None
    return assemble(text, filename=str(path), capacity=capacity, region=region)


def assemble(text: str, *, filename: str = "<source>", capacity: int = ADDRESS_SPACE,
             region: str = "") -> Assembly:
    """Assemble primitive source ``text`` into at most ``capacity`` bytes from its ORG.

    ``region`` describes those bytes in errors (e.g. "the boot sector's 510 code
    bytes"). Raises :class:`AssemblyError` naming ``filename`` and the line.
    """
    return _Assembler(filename, capacity, region or f"the {capacity}-byte image").run(text)


@dataclass
class _Define:
    statement: Statement
    expression: str
    value: Optional[int] = None
    resolving: bool = False


@dataclass
class _Assembler:
    filename: str
    capacity: int
    region: str
    origin: Optional[int] = None
    explicit_origin: bool = False
    labels: dict[str, int] = field(default_factory=dict)
    defines: dict[str, _Define] = field(default_factory=dict)
    where: dict[str, Statement] = field(default_factory=dict)
    memory: dict[int, tuple[int, Statement]] = field(default_factory=dict)
    rows: list[ListingRow] = field(default_factory=list)

    def run(self, text: str) -> Assembly:
        program = list(statements(text, self.filename))
        placed = self._first_pass(program)
        for statement, address in placed:
            self._second_pass(statement, address)
        origin = self.origin or 0
        end = max(self.memory, default=origin - 1) + 1
        code = bytes(self.memory[a][0] if a in self.memory else 0 for a in range(origin, end))
        values = {name: self._lookup(name, self.where[name]) for name in self.where}
        return Assembly(self.filename, origin, code, values, tuple(self.rows))

    # -- pass 1: addresses ------------------------------------------------------------

    def _first_pass(self, program: list[Statement]) -> list[tuple[Statement, int]]:
        """Give every label its address; return each statement with the address it starts at."""
        here: Optional[int] = None
        placed: list[Any] = []
        for statement in program:
            size = _SIZES.get(statement.command)
            if size is None:
                raise statement.error(f"unknown command {statement.text.split()[0]!r} (known: ORG, DEFINE, "
                                      "LABEL, WRITE, DB, DW, CALL, JMP, JE/JNE/JB/..., REL8, REL16, COMMENT)")
            if statement.command == "ORG":
                here = self._org(statement, started=bool(placed) or bool(self.labels))
            elif statement.command == "DEFINE":
                self._define(statement)
            else:
                if here is None:
                    here = self.origin = 0
                if statement.command == "LABEL":
                    self._label(statement, here)
                else:
                    placed.append((statement, here))
                    here += size(statement)
        return placed

    def _org(self, statement: Statement, started: bool) -> int:
        _arity(statement, 1)
        if self.origin is not None or started:  # an ORG after code would move it
            raise statement.error("ORG must come once, before any code or label")
        self.origin = _address(evaluate(statement.operands[0], None, lambda n: self._lookup(n, statement), statement),
                               statement, "ORG")
        self.explicit_origin = True
        return self.origin

    def _define(self, statement: Statement) -> None:
        _arity(statement, 2)
        name = self._new_name(statement, statement.operands[0])
        self.defines[name] = _Define(statement, statement.operands[1])

    def _label(self, statement: Statement, here: int) -> None:
        _arity(statement, 1)
        self.labels[self._new_name(statement, statement.operands[0])] = here

    def _new_name(self, statement: Statement, name: str) -> str:
        if not LABEL_NAME.match(name) or name.upper() in _KNOWN:
            raise statement.error(f"{name!r} is not a valid label name")
        if name in self.where:
            raise statement.error(f"label {name!r} is already defined at line {self.where[name].line}")
        self.where[name] = statement
        return name

    def _lookup(self, name: str, statement: Statement) -> int:
        if name in self.labels:
            return self.labels[name]
        define = self.defines.get(name)
        if define is None:
            raise statement.error(f"undefined label {name!r}")
        if define.value is None:
            if define.resolving:
                raise define.statement.error(f"label {name!r} is defined in terms of itself")
            define.resolving = True
            define.value = evaluate(define.expression, None, lambda n: self._lookup(n, define.statement),
                                    define.statement)
        return define.value

    # -- pass 2: bytes ----------------------------------------------------------------

    def _second_pass(self, statement: Statement, here: int) -> None:
        value = lambda operand: evaluate(operand, here, lambda n: self._lookup(n, statement), statement)  # noqa: E731
        command = statement.command
        if command == "WRITE":
            _arity(statement, 2)
            address = _address(value(statement.operands[0]), statement, "address")
            self._emit(statement, address, bytes([_byte(value(statement.operands[1]), statement)]), absolute=True)
            return
        if command == "DB":
            data = b"".join(string_bytes(o, statement) if is_string(o) else bytes([_byte(value(o), statement)])
                            for o in statement.operands)
        elif command == "DW":
            data = b"".join(_word(value(o), statement).to_bytes(2, "little") for o in statement.operands)
        else:
            opcode, width, target = _jump(statement)
            end = here + len(opcode) + width
            data = opcode + _displacement(value(target) - end, width, statement, target)
        self._emit(statement, here, data)

    def _emit(self, statement: Statement, address: int, data: bytes, absolute: bool = False) -> None:
        origin = self.origin or 0
        for offset, byte in enumerate(data):
            at = address + offset
            hint = "" if self.explicit_origin else " (no ORG: add one at the top, ORG 0x7C00 for a boot sector)"
            if at < origin:
                raise statement.error(f"write outside the image: 0x{at:04X} is below ORG 0x{origin:04X}")
            if at >= ADDRESS_SPACE:
                raise statement.error(f"value out of range: address 0x{at:X} is past 0xFFFF, the end of a "
                                      "real-mode segment")
            if at >= origin + self.capacity:
                last = origin + self.capacity - 1
                why = "write outside the image" if absolute else "code does not fit"
                raise statement.error(f"{why}: 0x{at:04X} is past {self.region} (0x{origin:04X}-0x{last:04X})"
                                      + hint)
            if at in self.memory:
                first = self.memory[at][1]
                raise statement.error(f"two writes to byte 0x{at:04X}: it was already written at line {first.line}"
                                      f" ({first.text})")
            self.memory[at] = (byte, statement)
        self.rows.append(ListingRow(address, data, statement.line, statement.text))


def _arity(statement: Statement, count: int) -> None:
    if len(statement.operands) != count:
        raise statement.error(f"{statement.command} takes {count} operand{'s' if count > 1 else ''}, "
                              f"got {len(statement.operands)}")


def _address(value: int, statement: Statement, what: str) -> int:
    if not 0 <= value < ADDRESS_SPACE:
        raise statement.error(f"value out of range: {what} {value:#x} is not within 0x0000-0xFFFF")
    return value


def _byte(value: int, statement: Statement) -> int:
    if not -0x80 <= value <= 0xFF:
        raise statement.error(f"value out of range: {value:#x} does not fit in a byte (-128..255)")
    return value & 0xFF


def _word(value: int, statement: Statement) -> int:
    if not -0x8000 <= value <= 0xFFFF:
        raise statement.error(f"value out of range: {value:#x} does not fit in a word (-32768..65535)")
    return value & 0xFFFF


def _jump(statement: Statement) -> tuple[bytes, int, str]:
    """The opcode bytes, displacement width and target operand of a jump-like statement."""
    command, operands = statement.command, statement.operands
    if command == "JMP" and len(operands) == 2 and operands[0].upper() in ("NEAR", "SHORT"):
        return (b"\xE9", 2, operands[1]) if operands[0].upper() == "NEAR" else (b"\xEB", 1, operands[1])
    _arity(statement, 1)
    if command == "JMP":
        return b"\xEB", 1, operands[0]
    if command == "CALL":
        return b"\xE8", 2, operands[0]
    if command in ("REL8", "REL16"):
        return b"", 1 if command == "REL8" else 2, operands[0]
    return bytes([SHORT_JUMPS[command]]), 1, operands[0]


def _displacement(distance: int, width: int, statement: Statement, target: str) -> bytes:
    if width == 2:
        return (distance & 0xFFFF).to_bytes(2, "little")  # near displacements wrap within the segment
    if not -128 <= distance <= 127:
        hint = "use JMP NEAR" if statement.command == "JMP" else "jump over a JMP NEAR instead"
        raise statement.error(f"value out of range: {target} is {distance} bytes away, beyond a short "
                              f"jump's -128..127 ({hint})")
    return (distance & 0xFF).to_bytes(1, "little")


def _jump_size(statement: Statement) -> int:
    opcode, width, _ = _jump(statement)
    return len(opcode) + width


def _db_size(statement: Statement) -> int:
    if not statement.operands:
        raise statement.error("DB needs at least one byte or string")
    return sum(len(string_bytes(o, statement)) if is_string(o) else 1 for o in statement.operands)


def _dw_size(statement: Statement) -> int:
    if not statement.operands:
        raise statement.error("DW needs at least one word")
    return 2 * len(statement.operands)


# How many bytes each command adds at the current address (pass 1).
_SIZES: dict[str, Callable[[Statement], int]] = {
    "ORG": lambda s: 0, "DEFINE": lambda s: 0, "LABEL": lambda s: 0, "WRITE": lambda s: 0,
    "DB": _db_size, "DW": _dw_size, "CALL": _jump_size, "JMP": _jump_size,
    "REL8": _jump_size, "REL16": _jump_size, **{name: _jump_size for name in SHORT_JUMPS},
}
_KNOWN = frozenset(_SIZES) | {"COMMENT"}
