"""Immutable value classes without :mod:`dataclasses`, for what the kernel builds at start-up.

A frozen dataclass costs about 0.7 ms to define (CPython compiles each
generated method with its own ``exec``) and ``dataclasses`` pulls in
``inspect`` and ``copy``; every command paid for about twenty of them before
it parsed its first argument. A :class:`Value` subclass is plain code, cached
as bytecode like the rest of the module:

* ``__slots__`` lists its fields, in the order of its constructor's
  parameters; the constructor's signature (names, annotations, defaults) is
  the field list that documentation and the breaking-change judge read;
* ``__init__`` checks what it needs and stores the fields with :meth:`_fill`;
* it compares, hashes, prints and pickles by its fields, as a frozen
  dataclass does, and assigning to a field raises :class:`AttributeError`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Value:
    """Base of the kernel's immutable values: equal, hashed and printed by the fields in ``__slots__``."""

    __slots__: ClassVar[tuple[str, ...]] = ()
    #: Fields left out of ``==`` and ``hash()`` (text that only describes the value).
    _uncompared: ClassVar[tuple[str, ...]] = ()

    def _fill(self, *values: Any) -> None:
        """Store ``values`` as the fields, in ``__slots__`` order (for ``__init__``)."""
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__ if name not in self._uncompared)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a {type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a {type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__qualname__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:  # slots are restored through __init__, not __setattr__
        return type(self), self._fields()
