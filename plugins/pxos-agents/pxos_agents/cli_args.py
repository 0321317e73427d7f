"""Arguments of the ``agent`` commands and ``serve`` (argparse only: called on every CLI start)."""

from __future__ import annotations

from pxos_kernel import add_json_flag


def configure_agent_list(parser) -> None:
    add_json_flag(parser)


def _task_inputs(parser) -> None:
    parser.add_argument("--file", action="append", default=[], metavar="PATH",
                        help="a file of the task (repeat); relative paths are kept as its name")
    parser.add_argument("--test", metavar="CMD", help="the test command, run in a sandbox copy (e.g. 'python test_x.py')")
    parser.add_argument("--context", default="", help="background the agent should know")


def _allow_unisolated(parser) -> None:
    parser.add_argument("--allow-unisolated", action="store_true",
                        help="run the test command even where the sandbox has no filesystem isolation "
                             "(written to the ledger)")


def configure_agent_propose(parser) -> None:
    parser.add_argument("goal", metavar="GOAL")
    parser.add_argument("--agent", help="agent name (default: the world's agent, pixellm-local)")
    _task_inputs(parser)
    _allow_unisolated(parser)
    add_json_flag(parser)


def configure_agent_coach(parser) -> None:
    parser.add_argument("--phase", help="only tasks of this phase")
    parser.add_argument("--max-tasks", type=int, default=1, metavar="N", help="coach at most N tasks (default 1)")
    parser.add_argument("--generator", help="generator agent (default: the world's agent)")
    parser.add_argument("--reviewer", default="tests",
                        help="'tests' (the task's test command scores) or an agent name (default: tests)")
    parser.add_argument("--rounds", type=int, default=3, help="proposal rounds per task (default 3)")
    parser.add_argument("--threshold", type=float, default=0.5, help="minimum review score to accept (default 0.5)")
    parser.add_argument("--test-timeout", default=60.0, metavar="S",
                        help="seconds for the test command (default 60)")
    _allow_unisolated(parser)
    add_json_flag(parser)


def configure_agent_task_add(parser) -> None:
    parser.add_argument("goal", metavar="GOAL")
    _task_inputs(parser)
    parser.add_argument("--phase", default="default")
    parser.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    parser.add_argument("--after", type=int, action="append", default=[], metavar="ID",
                        help="depends on task ID (repeat)")
    parser.add_argument("--max-attempts", type=int, default=3)
    add_json_flag(parser)


def configure_agent_task_list(parser) -> None:
    parser.add_argument("--state", help="only tasks in this state")
    parser.add_argument("--phase", help="only tasks of this phase")
    add_json_flag(parser)


def configure_agent_task_show(parser) -> None:
    parser.add_argument("id", type=int)
    add_json_flag(parser)


def configure_agent_task_requeue(parser) -> None:
    parser.add_argument("id", type=int)
    add_json_flag(parser)


def configure_agent_task_flag(parser) -> None:
    parser.add_argument("id", type=int)
    parser.add_argument("reason")
    add_json_flag(parser)


def configure_agent_memory_search(parser) -> None:
    parser.add_argument("query")
    parser.add_argument("--kind", choices=["decision", "result", "proposal"])
    parser.add_argument("-n", type=int, default=10, help="at most N entries (default 10)")
    add_json_flag(parser)


def configure_agent_memory_show(parser) -> None:
    parser.add_argument("atom_id", metavar="ATOM_ID")
    add_json_flag(parser)


def configure_agent_memory_add(parser) -> None:
    parser.add_argument("kind", choices=["decision", "result"])
    parser.add_argument("title")
    parser.add_argument("--body", default="", help="the reason or the finding")
    add_json_flag(parser)


def configure_agent_consent_grant(parser) -> None:
    parser.add_argument("hosts", nargs="+", metavar="HOST")
    add_json_flag(parser)


configure_agent_consent_revoke = configure_agent_consent_grant


def configure_agent_consent_list(parser) -> None:
    add_json_flag(parser)


def configure_serve(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--max-tokens", type=int, default=2048, help="largest max_tokens a request may ask")
    parser.add_argument("--max-body", type=int, default=1 << 20, help="largest request body in bytes")
