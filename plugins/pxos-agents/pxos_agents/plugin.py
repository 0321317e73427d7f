"""The pxOS entry point of pxos-agents: registrations only, nothing heavy imported here.

Agents ``pixellm-local`` and ``openai-compatible``; the ``agent ...``
commands and ``serve``. Every factory and action imports its module when it
is used, so ``pxos-kernel --help`` stays fast.
"""

from __future__ import annotations

from pxos_kernel import AgentSpec, Setting, Subcommand, hookimpl, lazy


@hookimpl
def pxos_agents():
    return [
        AgentSpec("pixellm-local", lazy("pxos_agents.local:factory"),
                  "offline: completes code with the installed inference engine (pixellm by default)"),
        AgentSpec("openai-compatible", lazy("pxos_agents.remote:factory"),
                  "any OpenAI-compatible chat server (ollama, llama.cpp, vLLM, pxos-kernel serve); needs consent",
                  needs_network=True),
    ]


@hookimpl
def pxos_settings():
    local, remote = "agents.pixellm-local", "agents.openai-compatible"
    return [
        Setting("network", dict, None, "what agents may reach over the network"),
        Setting("network.consent", list, [], "hosts agents may contact (pxos-kernel agent consent grant HOST)"),
        Setting(f"{local}.engine", str, None, "the inference engine it completes with (else defaults.inference)"),
        Setting(f"{local}.model", str, None, "the engine's model to use (else the engine's first)"),
        Setting(f"{local}.max_tokens", int, 256, "most tokens of a proposal"),
        Setting(f"{local}.reasoning_tokens", int, 96, "most tokens of the reasoning asked for first"),
        Setting(f"{local}.temperature", float, 0.0, "sampling temperature (0: the most likely token)"),
        Setting(f"{local}.seed", int, 0, "sampling seed"),
        Setting(f"{remote}.base_url", str, None, "the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1 "
                "(its host needs consent)"),
        Setting(f"{remote}.model", str, None, "the model to ask for (else the server's first)"),
        Setting(f"{remote}.api_key_env", str, "OPENAI_API_KEY", "the environment variable holding the API key"),
        Setting(f"{remote}.timeout", float, 60.0, "seconds a request may take"),
        Setting(f"{remote}.ready_timeout", float, 3.0, "seconds the readiness probe may take"),
        Setting(f"{remote}.max_retries", int, 2, "retries of a failed request"),
        Setting(f"{remote}.max_tokens", int, 512, "most tokens of a proposal"),
        Setting(f"{remote}.temperature", float, 0.2, "sampling temperature"),
        Setting(f"{remote}.seed", int, None, "sampling seed, for servers that honour it"),
        Setting("agents.queue", dict, None, "where the task queue lives"),
        Setting("agents.queue.backend", str, "sqlite", "the queue's database", choices=("sqlite", "postgres")),
        Setting("agents.queue.path", str, None, "the SQLite queue file (else PXOS_HOME/agents/queue.sqlite)"),
        Setting("agents.queue.dsn", str, None, "the PostgreSQL queue's connection string (else PXOS_QUEUE_DSN)"),
        Setting("agents.queue.schema", str, "pxos_queue", "the PostgreSQL schema holding the queue"),
    ]


_COMMANDS = [
    ("agent list", "list agents, whether each is ready and why not"),
    ("agent propose", "run one round: an agent proposes for GOAL (and the tests judge, with --test)"),
    ("agent coach", "coach queued tasks: generator proposes, reviewer scores, tests decide"),
    ("agent task add", "queue a task (goal, files, test command, phase, priority, dependencies)"),
    ("agent task list", "list queued tasks and their states"),
    ("agent task show", "show one task"),
    ("agent task requeue", "give a failed or blocked task a fresh set of attempts"),
    ("agent task flag", "flag a task for a human (it is not claimed until requeued)"),
    ("agent memory search", "search remembered decisions, results and accepted proposals"),
    ("agent memory show", "show one memory entry by ATOM id"),
    ("agent memory add", "remember a decision or result (written to the ledger first)"),
    ("agent consent grant", "allow agents to contact HOST (network.consent in config.yaml)"),
    ("agent consent revoke", "withdraw network consent for HOST"),
    ("agent consent list", "list hosts agents may contact"),
    ("serve", "serve every installed inference engine with the OpenAI HTTP API"),
]


@hookimpl
def pxos_subcommands():
    commands = []
    for name, summary in _COMMANDS:
        ident = name.replace(" ", "_")
        commands.append(Subcommand(name, summary, lazy(f"pxos_agents.commands:run_{ident}"),
                                   lazy(f"pxos_agents.cli_args:configure_{ident}")))
    return commands
