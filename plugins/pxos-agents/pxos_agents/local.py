"""``pixellm-local``: an offline agent on the installed inference engine.

It never imports an engine's package: it asks the kernel for the engine by
name (``kernel.engine(name)``, default the world's inference engine, i.e.
``pixellm``), so any engine meeting :class:`pxos_kernel.interfaces.Engine`
works. The model is a completion model, so for each file of the task that is
not a test the agent writes the task as text, then the opening fence of that
file, and lets the model continue up to the closing fence. Before that it
asks the model for its reasoning (the task, then a ``# Reasoning`` heading)
and keeps that completion verbatim as the proposal's reasoning: whatever the
model said, never a summary written by the agent.
"""

from __future__ import annotations

from typing import Any, Mapping

from pxos_kernel import AgentError, GenerationRequest, Proposal, PxosError, Readiness, Task

from pxos_agents.base import as_agent_error, build_proposal, is_test_file, prior_work, setting
from pxos_agents.prompts import (FENCE, REASONING_STOP, completion_prompt, describe_task, digest, file_header,
                                 reasoning_prompt)

NAME = "pixellm-local"


class PixellmLocalAgent:
    """Proposes by completion on a local inference engine; no network."""

    name = NAME

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.kernel: Any = settings.get("kernel")
        self.engine_name = settings.get("engine")
        self.model = settings.get("model")
        self.max_tokens = setting(settings, "max_tokens", int, 256, NAME)
        self.reasoning_tokens = setting(settings, "reasoning_tokens", int, 96, NAME)
        self.temperature = setting(settings, "temperature", float, 0.0, NAME)
        self.seed = setting(settings, "seed", int, 0, NAME)

    def _engine(self) -> tuple[str, Any]:
        name = self.engine_name or self.kernel.default_name("inference")
        if name not in self.kernel.registry("inference"):
            known = ", ".join(self.kernel.registry("inference").names()) or "none"
            raise AgentError(f"agent {NAME}: inference engine {name!r} is not installed (installed: {known}); "
                             "install pxos-pixellm or set agents.pixellm-local.engine")
        return name, self.kernel.engine(name)

    def _model(self, engine_name: str, engine: Any) -> str:
        models = engine.models()
        if not models:
            raise AgentError(f"agent {NAME}: engine {engine_name} has no model to serve")
        if self.model and self.model not in models:
            raise AgentError(f"agent {NAME}: engine {engine_name} has no model {self.model!r} "
                             f"(it has: {', '.join(models)})")
        return self.model or models[0]

    def ready(self) -> Readiness:
        try:
            name, engine = self._engine()
            model = self._model(name, engine)
        except PxosError as exc:
            return Readiness(False, str(exc))
        return Readiness(True, f"engine {name}, model {model}")

    def _complete(self, engine: Any, model: str, prompt: str, max_tokens: int = 0,
                  stop: tuple[str, ...] = (FENCE,)) -> tuple[str, int]:
        request = GenerationRequest(prompt, model=model, max_tokens=max_tokens or self.max_tokens,
                                    temperature=self.temperature, seed=self.seed, stop=stop)
        text, tokens = [], 0
        for chunk in engine.generate(request):
            text.append(chunk.text)
            tokens += chunk.tokens
        return "".join(text), tokens

    def propose(self, task: Task) -> Proposal:
        try:
            engine_name, engine = self._engine()
            model = self._model(engine_name, engine)
            memory = prior_work(self.kernel, task)
            targets = [p for p in sorted(task.files) if not is_test_file(p)]
            prompt = reasoning_prompt(task, memory)
            reasoning, tokens = self._complete(engine, model, prompt, self.reasoning_tokens, REASONING_STOP)
            files, blocks, prompts = {}, [], [prompt]
            for path in targets:
                prompt = completion_prompt(task, path, memory)
                body, used = self._complete(engine, model, prompt)
                files[path] = body if body.endswith("\n") or not body else body + "\n"
                blocks.append(f"{file_header(path)}{files[path]}{FENCE}")
                prompts.append(prompt)
                tokens += used
            if not targets:  # nothing to edit: answer the goal in prose
                prompt = describe_task(task, memory) + "\n# Answer\n"
                body, used = self._complete(engine, model, prompt)
                blocks.append(body)
                tokens += used
                prompts.append(prompt)
        except PxosError as exc:
            raise as_agent_error(NAME, exc) from exc
        text = "\n".join(blocks)
        how = (f"completion by {engine_name}/{model} of {len(targets)} file(s) "
               f"({', '.join(targets) or 'prose answer'}), {tokens} tokens; "
               f"prior work consulted: {', '.join(m['atom_id'] for m in memory) or 'none found'}")
        return build_proposal(NAME, f"{engine_name}/{model}", task, text, files, reasoning, {
            "prompt_digest": digest("\n".join(prompts)), "memory": [m["atom_id"] for m in memory],
            "tokens": tokens, "how": how})


def factory(settings: Mapping[str, Any]) -> PixellmLocalAgent:
    return PixellmLocalAgent(settings)
