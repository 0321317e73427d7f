"""``openai-compatible``: an agent on any server speaking the OpenAI chat API.

ollama, llama.cpp's server, vLLM and ``pxos-kernel serve`` all qualify. It
uses the official ``openai`` client, streaming the answer, with the client's
own timeouts and retries with exponential backoff (``timeout``,
``max_retries`` settings). Its HTTP client runs on
:class:`~pxos_agents.netlog.LedgeredTransport`: a host the user has not
consented to is never contacted, and every request is a ledger record.

Config (``PXOS_HOME/config.yaml``)::

    agents:
      openai-compatible:
        base_url: http://127.0.0.1:8000/v1
        model: pixellm/tiny          # optional: first listed model otherwise
        api_key_env: OPENAI_API_KEY  # the variable holding the key (never logged)
    network:
      consent: [127.0.0.1]
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from pxos_kernel import AgentError, NetworkConsentError, Proposal, PxosError, Readiness, Task, redact_url

from pxos_agents.base import as_agent_error, build_proposal, prior_work, setting
from pxos_agents.consent import check_consent
from pxos_agents.prompts import CHAT_INSTRUCTIONS, describe_task, digest, parse_files, reasoning_of

NAME = "openai-compatible"


class OpenAICompatibleAgent:
    """Proposes through an OpenAI-compatible chat/completions endpoint."""

    name = NAME

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.kernel: Any = settings.get("kernel")
        self.base_url: Optional[str] = settings.get("base_url")
        self.model: Optional[str] = settings.get("model")
        self.api_key_env = settings.get("api_key_env", "OPENAI_API_KEY")
        self.timeout = setting(settings, "timeout", float, 60.0, NAME)
        self.ready_timeout = setting(settings, "ready_timeout", float, 3.0, NAME)
        self.max_retries = setting(settings, "max_retries", int, 2, NAME)
        self.max_tokens = setting(settings, "max_tokens", int, 512, NAME)
        self.temperature = setting(settings, "temperature", float, 0.2, NAME)
        self.seed = setting(settings, "seed", int, None, NAME)  # for servers that honour it: reproducible answers
        self._client = None

    # -- plumbing ------------------------------------------------------------------------

    @property
    def shown_url(self) -> str:
        """``base_url`` as printed and recorded: credentials in it are redacted."""
        return redact_url(self.base_url or "")

    @property
    def host(self) -> str:
        if not self.base_url:
            raise AgentError(f"agent {NAME}: no base_url configured (set agents.{NAME}.base_url in config.yaml, "
                             "e.g. http://127.0.0.1:8000/v1)")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AgentError(f"agent {NAME}: base_url {self.shown_url!r} is not an http(s) URL")
        return parts.hostname

    def _check_consent(self, host: str) -> None:
        check_consent(self.kernel.home, host, agent=NAME)

    def _record(self, payload: dict) -> None:
        self.kernel.checkpoint("NET", "http_request", payload,
                               corridor="DISTRICT_8.CHAMBER_NETWORK.NODE_REQUEST", agent=NAME)

    def client(self) -> Any:
        """The ``openai.OpenAI`` client, on a ledgered, consent-checking transport."""
        if self._client is None:
            import httpx
            import openai

            from pxos_agents.netlog import LedgeredTransport

            self.host  # validates base_url
            http = httpx.Client(transport=LedgeredTransport(self._check_consent, self._record),
                                timeout=self.timeout)
            key = os.environ.get(self.api_key_env or "") or "no-key"
            self._client = openai.OpenAI(  # type: ignore[assignment]
                base_url=self.base_url, api_key=key, timeout=self.timeout, max_retries=self.max_retries,
                http_client=http)  # type: ignore[arg-type]  # openai's stubs name its vendored httpx
        return self._client

    def _error(self, exc: Exception) -> AgentError:
        import openai

        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, NetworkConsentError):
            return cause
        if isinstance(exc, openai.APITimeoutError):
            return AgentError(f"agent {NAME}: {self.shown_url} timed out after {self.timeout:g} s "
                              f"({self.max_retries} retries)")
        if isinstance(exc, openai.APIConnectionError):
            return AgentError(f"agent {NAME}: cannot reach {self.shown_url} ({cause or exc})")
        if isinstance(exc, openai.APIStatusError):
            return AgentError(f"agent {NAME}: {self.shown_url} answered HTTP {exc.status_code}: {exc.message}")
        return AgentError(f"agent {NAME}: request to {self.shown_url} failed: {type(exc).__name__}: {exc}")

    def _models(self, timeout: float) -> list[str]:
        import openai

        try:
            page = self.client().with_options(timeout=timeout, max_retries=0).models.list()
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        return [m.id for m in page.data]

    def _chosen_model(self, models: list[str]) -> str:
        if self.model:
            if self.model not in models:
                raise AgentError(f"agent {NAME}: {self.shown_url} has no model {self.model!r} "
                                 f"(it has: {', '.join(models) or 'none'})")
            return self.model
        if not models:
            raise AgentError(f"agent {NAME}: {self.shown_url} lists no models")
        return models[0]

    # -- the Agent protocol --------------------------------------------------------------

    def ready(self) -> Readiness:
        """Configured, consented, reachable and serving the model (one logged GET /models)."""
        try:
            self._check_consent(self.host)
            model = self._chosen_model(self._models(self.ready_timeout))
        except PxosError as exc:
            return Readiness(False, str(exc))
        return Readiness(True, f"{self.shown_url}, model {model}")

    def propose(self, task: Task) -> Proposal:
        import openai

        try:
            self._check_consent(self.host)
            model = self.model or self._chosen_model(self._models(self.timeout))
            memory = prior_work(self.kernel, task)
            prompt = describe_task(task, memory)
            messages = [{"role": "system", "content": CHAT_INSTRUCTIONS}, {"role": "user", "content": prompt}]
            try:
                stream = self.client().chat.completions.create(
                    model=model, messages=messages, stream=True, max_tokens=self.max_tokens,
                    temperature=self.temperature, **({} if self.seed is None else {"seed": self.seed}))
                pieces, finish = [], None
                for chunk in stream:
                    for choice in chunk.choices:
                        pieces.append(choice.delta.content or "")
                        finish = choice.finish_reason or finish
            except openai.OpenAIError as exc:
                raise self._error(exc) from exc
        except PxosError as exc:
            raise as_agent_error(NAME, exc) from exc
        text = "".join(pieces)
        files = parse_files(text)
        reasoning = reasoning_of(text)  # the model's own words, or nothing: never a stand-in
        return build_proposal(NAME, model, task, text, files, reasoning, {
            "prompt_digest": digest(prompt), "memory": [m["atom_id"] for m in memory],
            "finish_reason": finish, "base_url": self.shown_url})


def factory(settings: Mapping[str, Any]) -> OpenAICompatibleAgent:
    return OpenAICompatibleAgent(settings)
