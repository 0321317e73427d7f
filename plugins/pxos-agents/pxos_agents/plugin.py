"""The pxOS entry point of pxos-agents: registrations only, nothing heavy imported here.

Agents ``pixellm-local`` and ``openai-compatible``; the ``agent ...``
commands and ``serve``. Every factory and action imports its module when it
is used, so ``pxos-kernel --help`` stays fast.
"""

from __future__ import annotations

from pxos_kernel import AgentSpec, Subcommand, hookimpl, lazy


@hookimpl
def pxos_agents():
    return [
        AgentSpec("pixellm-local", lazy("pxos_agents.local:factory"),
                  "offline: completes code with the installed inference engine (pixellm by default)"),
        AgentSpec("openai-compatible", lazy("pxos_agents.remote:factory"),
                  "any OpenAI-compatible chat server (ollama, llama.cpp, vLLM, pxos-kernel serve); needs consent",
                  needs_network=True),
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
