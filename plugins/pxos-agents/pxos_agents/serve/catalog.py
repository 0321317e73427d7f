"""Which models the server offers: every model of every installed inference engine.

A model is named ``ENGINE/MODEL`` (``pixellm/tiny``); a bare ``MODEL`` works
too when only one engine has it, and a bare ``ENGINE`` means its first model.
Engines are built once, when the server starts, so request threads share
them without touching the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pxos_kernel import PxosError


@dataclass(frozen=True)
class ServedModel:
    id: str
    engine_name: str
    model: str
    engine: Any


class Catalog:
    """Model ids to engines; ``problems`` lists engines that could not be loaded."""

    def __init__(self, kernel: Any) -> None:
        self.models: dict[str, ServedModel] = {}
        self.problems: list[str] = []
        for name in kernel.registry("inference").names():
            try:
                engine = kernel.engine(name)
                names = engine.models()
            except PxosError as exc:
                self.problems.append(f"engine {name}: {exc}")
                continue
            for model in names:
                served = ServedModel(f"{name}/{model}", name, model, engine)
                self.models[served.id] = served
        self._aliases: dict[str, list[ServedModel]] = {}
        for served in self.models.values():
            self._aliases.setdefault(served.model, []).append(served)
        for served in reversed(list(self.models.values())):
            self._aliases.setdefault(served.engine_name, [served])

    def resolve(self, name: str) -> ServedModel | None:
        """The model called ``name``, or ``None`` when unknown or ambiguous."""
        if name in self.models:
            return self.models[name]
        candidates = self._aliases.get(name, [])
        return candidates[0] if len(candidates) == 1 else None
