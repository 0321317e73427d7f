"""Actions of the ``agent`` commands and ``serve``."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from pxos_kernel import NotFoundError, PxosError, Task, UsageError, print_json, print_table


def _read_files(paths: list[str]) -> dict[str, str]:
    from pxos_agents.workspace import safe_path

    files = {}
    for path in paths:
        name = str(safe_path(path)) if not Path(path).is_absolute() else Path(path).name
        try:
            files[name] = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise NotFoundError(f"task file {path}: cannot read it ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise PxosError(f"task file {path}: not UTF-8 text") from None
    return files


def _test_command(text: str | None) -> list[str]:
    if not text:
        return []
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"test command {text!r} cannot be parsed: {exc}") from None


# -- agent list / propose ------------------------------------------------------------------


def run_agent_list(args) -> int:
    kernel = args.kernel
    rows = []
    for name in kernel.registry("agent").names():
        spec = kernel.registry("agent").get(name)
        try:
            readiness = kernel.agent(name).ready()
            ok, reason = readiness.ok, readiness.reason
        except PxosError as exc:
            ok, reason = False, str(exc)
        rows.append({"name": name, "ready": ok, "reason": reason, "needs_network": spec.needs_network,
                     "summary": spec.summary})
    if args.json:
        print_json(rows)
    else:
        print_table(["agent", "ready", "network", "why / what"],
                    [[r["name"], "yes" if r["ready"] else "NO", "yes" if r["needs_network"] else "no", r["reason"]]
                     for r in rows])
    return 0


def run_agent_propose(args) -> int:
    from pxos_agents.prompts import digest
    from pxos_agents.workspace import make_copy, run_tests

    kernel = args.kernel
    name = args.agent or kernel.default_name("agent")
    task = Task(args.goal, args.context, _read_files(args.file), tuple(_test_command(args.test)))
    proposal = kernel.agent(name).propose(task)
    record = kernel.checkpoint("COACH", "propose", {
        "model": proposal.model, "prompt_digest": proposal.meta.get("prompt_digest"),
        "proposal_digest": digest(proposal.text + (proposal.patch or ""))},
        corridor="DISTRICT_7.CHAMBER_COACH.NODE_PROPOSE", agent=name)
    tests = None
    if task.test_command:
        copy = make_copy(task.files, dict(proposal.meta.get("files") or {}))
        try:
            tests = run_tests(kernel, copy, task.test_command, allow_unisolated=args.allow_unisolated)
        finally:
            shutil.rmtree(copy, ignore_errors=True)
        kernel.checkpoint("COACH", "test", {"passed": tests.passed, "exit_code": tests.exit_code,
                                            "duration": tests.duration},
                          corridor="DISTRICT_7.CHAMBER_COACH.NODE_TEST", agent=name)
    if args.json:
        print_json({"agent": proposal.agent, "model": proposal.model, "text": proposal.text,
                    "reasoning": proposal.reasoning, "patch": proposal.patch, "ledger_id": record["id"],
                    "tests": tests.as_dict() if tests else None})
    else:
        print(f"# proposal by {proposal.agent} ({proposal.model}), {record['id']}")
        print(f"# reasoning: {proposal.reasoning}")
        print(proposal.patch or proposal.text)
        if tests:
            print(f"# tests in a sandbox copy: {'PASSED' if tests.passed else 'FAILED'} (exit {tests.exit_code})")
    return 0 if tests is None or tests.passed else 1


# -- coach ------------------------------------------------------------------------------------


def run_agent_coach(args) -> int:
    from pxos_agents.coach import Coach

    kernel = args.kernel
    generator = args.generator or kernel.default_name("agent")
    coach = Coach(kernel, generator=generator, reviewer=args.reviewer, max_rounds=args.rounds,
                  threshold=args.threshold, test_timeout=args.test_timeout,
                  allow_unisolated=args.allow_unisolated)
    try:
        outcomes = coach.run(phase=args.phase, max_tasks=args.max_tasks)
    finally:
        coach.close()
    if args.json:
        print_json([o.as_dict() for o in outcomes])
    elif not outcomes:
        print("no task is ready" + (f" in phase {args.phase}" if args.phase else ""))
    else:
        print_table(["task", "decision", "rounds", "score", "memory", "where / why"],
                    [[o.task_id, o.decision, o.rounds, "-" if o.score is None else f"{o.score:.2f}", o.memory_id or "-",
                      o.accepted_dir or o.reason.splitlines()[0][:100] if (o.accepted_dir or o.reason) else "-"]
                     for o in outcomes])
    return 0 if all(o.decision == "accepted" for o in outcomes) else 1


# -- task queue -----------------------------------------------------------------------------


def _queue(args):
    from pxos_agents.queue import TaskQueue

    return TaskQueue.of(args.kernel)


def _print_task(task, as_json: bool) -> None:
    if as_json:
        print_json(task.as_dict())
        return
    print(f"task {task.id} [{task.state}] phase={task.phase} priority={task.priority} "
          f"attempts={task.attempts}/{task.max_attempts}" + (f" NEEDS HUMAN: {task.human_reason}" if task.needs_human else ""))
    print(f"  goal: {task.goal}")
    if task.depends_on:
        print(f"  after: {', '.join(map(str, task.depends_on))}")
    if task.files:
        print(f"  files: {', '.join(sorted(task.files))}")
    if task.test_command:
        print(f"  test: {shlex.join(task.test_command)}")
    if task.last_error:
        print(f"  last error: {task.last_error.splitlines()[0]}")
    if task.result:
        print(f"  result: {task.result}")


def run_agent_task_add(args) -> int:
    queue = _queue(args)
    try:
        task = queue.add(args.goal, context=args.context, files=_read_files(args.file),
                         test_command=_test_command(args.test), phase=args.phase, priority=args.priority,
                         depends_on=args.after, max_attempts=args.max_attempts)
    finally:
        queue.close()
    _print_task(task, args.json)
    return 0


def run_agent_task_list(args) -> int:
    queue = _queue(args)
    try:
        tasks = queue.list(state=args.state, phase=args.phase)
    finally:
        queue.close()
    if args.json:
        print_json([t.as_dict() for t in tasks])
        return 0
    print_table(["id", "state", "phase", "prio", "attempts", "human", "goal"],
                [[t.id, t.state, t.phase, t.priority, f"{t.attempts}/{t.max_attempts}", "yes" if t.needs_human else "",
                  t.goal[:60]] for t in tasks])
    return 0


def run_agent_task_show(args) -> int:
    queue = _queue(args)
    try:
        _print_task(queue.get(args.id), args.json)
    finally:
        queue.close()
    return 0


def run_agent_task_requeue(args) -> int:
    queue = _queue(args)
    try:
        _print_task(queue.requeue(args.id), args.json)
    finally:
        queue.close()
    return 0


def run_agent_task_flag(args) -> int:
    queue = _queue(args)
    try:
        _print_task(queue.flag(args.id, args.reason), args.json)
    finally:
        queue.close()
    return 0


# -- memory ---------------------------------------------------------------------------------


def run_agent_memory_search(args) -> int:
    from pxos_agents.memory import MemoryStore

    store = MemoryStore(args.kernel)
    try:
        found = store.search(args.query, kind=args.kind, limit=args.n)
    finally:
        store.close()
    if args.json:
        print_json([m.as_dict() for m in found])
    else:
        print_table(["atom id", "kind", "agent", "title"], [[m.atom_id, m.kind, m.agent, m.title[:70]] for m in found])
    return 0


def run_agent_memory_show(args) -> int:
    from pxos_agents.memory import MemoryStore

    store = MemoryStore(args.kernel)
    try:
        entry = store.show(args.atom_id)
    finally:
        store.close()
    if args.json:
        print_json(entry.as_dict())
    else:
        print(f"{entry.atom_id}  {entry.kind} by {entry.agent} at {entry.ts}")
        print(f"title: {entry.title}")
        print(entry.body)
    return 0


def run_agent_memory_add(args) -> int:
    from pxos_agents.memory import MemoryStore

    store = MemoryStore(args.kernel)
    try:
        entry = store.remember(args.kind, args.title, args.body, agent="user")
    finally:
        store.close()
    if args.json:
        print_json(entry.as_dict())
    else:
        print(entry.atom_id)
    return 0


# -- consent ----------------------------------------------------------------------------------


def run_agent_consent_grant(args) -> int:
    from pxos_agents.consent import grant

    return _change_consent(args, grant, "consent_grant")


def run_agent_consent_revoke(args) -> int:
    from pxos_agents.consent import revoke

    return _change_consent(args, revoke, "consent_revoke")


def _change_consent(args, change, op: str) -> int:
    """Grant or revoke consent for ``args.hosts``, record who did it, and show the result."""
    hosts = change(args.kernel.home, args.hosts)
    args.kernel.checkpoint("NET", op, {"hosts": args.hosts},
                           corridor="DISTRICT_8.CHAMBER_NETWORK.NODE_CONSENT", agent="user")
    if args.json:
        print_json(hosts)  # as consent list --json prints them
    else:
        print("agents may contact: " + (", ".join(hosts) or "no host"))
    return 0


def run_agent_consent_list(args) -> int:
    from pxos_agents.consent import read_consent

    hosts = read_consent(args.kernel.home)
    if args.json:
        print_json(hosts)
    else:
        print("\n".join(hosts) if hosts else "no host: agents have no network consent")
    return 0


# -- serve ------------------------------------------------------------------------------------


def run_serve(args) -> int:
    from pxos_agents.serve.protocol import Limits
    from pxos_agents.serve.server import serve

    if args.max_tokens < 1 or args.max_body < 1024:
        raise UsageError("--max-tokens must be at least 1 and --max-body at least 1024 bytes")
    try:
        server = serve(args.kernel, args.host, args.port, Limits(args.max_body, args.max_tokens))
    except OSError as exc:
        raise PxosError(f"serve: cannot listen on {args.host}:{args.port} ({exc.strerror})") from None
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"serve: warning: listening on {args.host}, beyond loopback: anyone who reaches it can use "
              "the models (there is no authentication)")
    for problem in server.catalog.problems:
        print(f"serve: warning: {problem}")
    if not server.catalog.models:
        engines = ", ".join(args.kernel.registry("inference").names()) or "none installed"
        print(f"serve: warning: no inference engine has a model to serve (engines: {engines})")
    print(f"serving {len(server.catalog.models)} model(s) at {server.url} (Ctrl-C or SIGTERM stops)", flush=True)
    import signal
    import threading

    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:  # serve_forever runs here: stop it from another thread
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        cut = server.stop(grace=10.0)
        print(f"serve: stopped{f' ({cut} connection(s) cut after the grace period)' if cut else ''}", flush=True)
    return 0
