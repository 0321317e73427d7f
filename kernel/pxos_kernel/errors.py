"""The one error hierarchy of pxOS.

Every error a user can cause is a :class:`PxosError`. The command line prints
``str(error)`` as one line and exits with ``error.exit_code``; ``--debug`` adds
the traceback. Messages name the thing and the problem, and say what to do.
"""

from __future__ import annotations

from typing import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` when one of ``choices`` is close to ``word`` (case aside), else ``""``."""
    import difflib

    options = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(str(word).lower(), list(options), n=1, cutoff=0.75)
    return f" (did you mean {options[close[0]]!r}?)" if close else ""


class PxosError(Exception):
    """Base class of every error pxOS reports to a user."""

    exit_code = 1


class UsageError(PxosError):
    """The command line was used wrongly: a bad argument, option or combination (exit 2, like argparse)."""

    exit_code = 2


class ConfigError(PxosError):
    """A config file or manifest is missing, unreadable or invalid."""


class PluginError(PxosError):
    """A plugin failed to load or registered something invalid."""


class ConflictError(PluginError):
    """Two plugins registered the same name in one family; ``first`` is the plugin that did so first."""

    def __init__(self, message: str, first: str = "") -> None:
        super().__init__(message)
        self.first = first


class NotFoundError(PxosError):
    """A named thing (program, backend, record, cartridge ...) does not exist."""


class ProgramError(PxosError):
    """A program could not be resolved, or it failed while running."""


class SandboxError(ProgramError):
    """A sandboxed run could not be set up (its mechanism is missing, a path to show does not exist) or was refused."""


class LedgerError(PxosError):
    """A ledger could not be read, appended to or verified."""


class LedgerCorruptError(LedgerError):
    """Ledger data is damaged: a torn, unparsable or out-of-chain record."""


class StorageError(PxosError):
    """A storage backend could not store, find or verify an object."""


class FormatError(PxosError):
    """A file is not in the format it claims (PNG, pixel container, ...)."""


class IntegrityError(FormatError):
    """A checksum does not match: the data was damaged or tampered with."""


class InferenceError(PxosError):
    """An inference engine could not load a model or generate."""


class AgentError(PxosError):
    """An agent could not produce a proposal (backend down, refused, ...)."""


class NetworkConsentError(AgentError):
    """A network request was refused because the user has not consented."""


class GuardrailError(PxosError):
    """A guardrail refused an action."""


class BootError(PxosError):
    """A boot image could not be built or run."""
