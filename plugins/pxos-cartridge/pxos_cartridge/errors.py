"""The errors of pxos-cartridge, all :class:`~pxos_kernel.errors.PxosError` subclasses."""

from __future__ import annotations

from pxos_kernel import FormatError, GuardrailError, IntegrityError, PxosError


class ArchiveError(FormatError):
    """A file is not a valid pixel archive."""


class HostileArchiveError(ArchiveError):
    """An archive is unsafe to use: escaping or duplicate paths, members outside the payload, a bomb."""


class MemberIntegrityError(IntegrityError):
    """A member's bytes do not match the sha256 recorded for it."""


class PackError(PxosError):
    """A directory tree cannot be packed."""


class RegistryError(PxosError):
    """A registry operation is invalid (unknown cartridge or version, bad argument)."""


class RegistryCorruptError(RegistryError):
    """The registry file cannot be parsed; it is refused and never overwritten."""


class PromotionRefused(GuardrailError):
    """A promotion or rollback did not pass its checks."""
