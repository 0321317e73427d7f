"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme).

The ledger hashes records in this form, so the same record gives the same
bytes on every machine. Most records hold only strings, small integers,
non-integral floats between 1e-4 and 1e16, lists and objects, for which
CPython's C JSON encoder with sorted keys already produces RFC 8785 output;
anything else (other floats, non-BMP object keys) goes through the exact,
slower path below.
"""

from __future__ import annotations

import json
import math
from typing import Any

_MAX_SAFE_INT = 2**53 - 1
json_string = json.encoder.encode_basestring  # escapes exactly what RFC 8785 escapes


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serialisable")


# The C encoder built once (json.JSONEncoder.encode builds one on every call): sorted keys,
# no whitespace, non-ASCII as is, no NaN. It prints plain values exactly as RFC 8785 does.
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode_plain: Any = None
if _c_encoder is not None:
    _encode_plain = _c_encoder({}, _refuse, json_string, None, ":", ",", True, False, False)

    def _fast(value: Any) -> str:
        return "".join(_encode_plain(value, 0))
else:  # a Python without the C accelerator
    _encoder = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)

    def _fast(value: Any) -> str:
        return _encoder.encode(value)


def canonical_json(value: Any) -> str:
    """Serialise ``value`` as RFC 8785 canonical JSON text.

    >>> canonical_json({"b": [1, 2.5, "x"], "a": None})
    '{"a":null,"b":[1,2.5,"x"]}'

    Raises :class:`ValueError` (or :class:`TypeError`) for values JSON cannot
    represent exactly: NaN, infinities, integers beyond 2**53, non-string keys.
    """
    if _is_plain(value):
        return _fast(value) if _encode_plain is None else "".join(_encode_plain(value, 0))  # (one call less)
    return "".join(_encode(value))


def _is_plain(value: Any) -> bool:
    """Whether the C encoder prints ``value`` exactly as RFC 8785 does (the hot path: no generators)."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                return False
            kind = type(item)
            if kind is str or kind is bool or item is None:
                continue
            if kind is int:
                if not -_MAX_SAFE_INT <= item <= _MAX_SAFE_INT:
                    return False
            elif kind is float:  # the float rule below, inlined: one call less for the common payload
                if not (1e-4 <= abs(item) < 1e16 and not item.is_integer()):
                    return False
            elif not _is_plain(item):
                return False
        return True
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT
    if kind is float:  # in this range Python's repr and ECMAScript print a float identically
        return 1e-4 <= abs(value) < 1e16 and not value.is_integer()
    if kind is list or kind is tuple:
        for item in value:
            if not (type(item) is str or _is_plain(item)):
                return False
        return True
    return False


def _encode(value: Any):
    if value is None:
        yield "null"
    elif value is True:
        yield "true"
    elif value is False:
        yield "false"
    elif isinstance(value, str):
        yield json_string(value)
    elif isinstance(value, int):
        if not -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
            raise ValueError(f"integer {value} is beyond 2**53 and has no exact JSON number")
        yield str(int(value))
    elif isinstance(value, float):
        yield format_number(value)
    elif isinstance(value, (list, tuple)):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ","
            yield from _encode(item)
        yield "]"
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"object key {key!r} is not a string")
        yield "{"
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if i:
                yield ","
            yield json_string(key)
            yield ":"
            yield from _encode(value[key])
        yield "}"
    else:
        raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serialisable")


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")


def format_number(x: float) -> str:
    """Format a float the way ECMAScript's ``Number.prototype.toString`` does (RFC 8785 §3.2.2.3).

    >>> format_number(1e21), format_number(1e-7), format_number(100.0), format_number(0.000001)
    ('1e+21', '1e-7', '100', '0.000001')
    """
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"{x} has no JSON representation")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exponent = repr(abs(x)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    s = stripped.rstrip("0")
    k, n = len(s), point
    if k <= n <= 21:
        text = s + "0" * (n - k)
    elif 0 < n <= 21:
        text = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + s
    else:
        e = n - 1
        text = (s if k == 1 else s[0] + "." + s[1:]) + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + text
