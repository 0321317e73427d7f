"""The hook specifications of pxOS (pluggy project ``pxos``).

Registration hooks return one registration or an iterable of them; the kernel
collects every plugin's answers into one registry per family and refuses two
registrations of one name. Lifecycle hooks are broadcasts, fired in this order
for one process::

    pxos_addhooks -> pxos_kernel_booted
        -> (pxos_program_started -> pxos_program_finished)*
    -> pxos_kernel_shutdown

A plugin module implements hooks with the :data:`pxos_kernel.hookimpl` marker
and is announced by an entry point in group ``pxos``.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Union

import pluggy

PROJECT = "pxos"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(historic=True)
def pxos_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add hook specifications of your own, for plugins of your plugin.

    Called once per plugin as it is registered. Example::

        @hookimpl
        def pxos_addhooks(pluginmanager):
            from pxos_ledger import hookspecs   # pxos-ledger's own: pxos_ledger_reducers
            pluginmanager.add_hookspecs(hookspecs)
    """


@hookspec
def pxos_storage_backends() -> Union["StorageBackend", Iterable["StorageBackend"]]:
    """Register storage backends, each reachable as ``SCHEME://KEY``.

    Contract: return :class:`~pxos_kernel.registrations.StorageBackend` values
    whose ``factory(settings)`` builds an object meeting
    :class:`~pxos_kernel.interfaces.Storage`; import heavy modules inside the
    factory, not at module level. Example::

        @hookimpl
        def pxos_storage_backends():
            def factory(settings):
                from my_plugin.store import DictStore
                return DictStore(settings["root"])
            return StorageBackend("memory", factory, "objects kept in a dict")
    """


@hookspec
def pxos_inference_engines() -> Union["InferenceEngine", Iterable["InferenceEngine"]]:
    """Register inference engines (``pxos-kernel model``, agents, ``serve``).

    Contract: ``factory(settings)`` returns an :class:`~pxos_kernel.interfaces.Engine`;
    ``generate`` streams :class:`~pxos_kernel.interfaces.GenerationChunk` values and
    raises :class:`~pxos_kernel.errors.InferenceError` rather than inventing text.
    Example::

        @hookimpl
        def pxos_inference_engines():
            return InferenceEngine("echo", lambda settings: EchoEngine(), "repeats the prompt")
    """


@hookspec
def pxos_sinks() -> Union["SinkSpec", Iterable["SinkSpec"]]:
    """Register ledger sinks. The kernel chains records; sinks only persist them.

    Contract: ``factory(settings)`` returns a :class:`~pxos_kernel.interfaces.Sink`
    whose ``compare_and_append`` is atomic against every other writer of the same
    ledger, including other processes. ``settings`` holds ``root`` plus the
    ``ledger`` config section. The built-in sink is ``jsonl``. Example::

        @hookimpl
        def pxos_sinks():
            return SinkSpec("sqlite", lambda s: SqliteSink(s["root"] + "/ledger.db"), "SQLite WAL")
    """


@hookspec
def pxos_settings() -> Union["Setting", Iterable["Setting"]]:
    """Declare the ``config.yaml`` settings your plugin reads: each key's path, type, default and summary.

    Contract: return :class:`~pxos_kernel.registrations.Setting` values, one per
    key, including the settings of what you register (``storage.SCHEME.KEY``,
    ``inference.NAME.KEY``, ``agents.NAME.KEY``). The kernel hands your factory
    (and ``kernel.section``) the declared defaults under what the user wrote;
    warns about a key nobody declared, with a "did you mean"; refuses a value
    of the wrong type in one line naming its key path, and never changes the
    file. ``pxos-kernel config show`` lists every setting, ``config validate``
    checks a whole file. Two plugins declaring one key is a conflict. Example::

        @hookimpl
        def pxos_settings():
            return [
                Setting("storage.memory.capacity_mb", int, 64, "most megabytes the store keeps"),
                Setting("my-plugin.colour", str, "blue", "what colour to paint", choices=("blue", "red")),
            ]
    """


@hookspec
def pxos_agents() -> Union["AgentSpec", Iterable["AgentSpec"]]:
    """Register agents, which turn tasks into proposals.

    Contract: ``factory(settings)`` returns an :class:`~pxos_kernel.interfaces.Agent`.
    An agent that cannot reach its model raises :class:`~pxos_kernel.errors.AgentError`;
    it never returns a placeholder. Set ``needs_network=True`` when it talks to a
    server; such an agent must refuse hosts the user has not consented to (config
    ``network.consent``) and log every request to the ledger. Example::

        @hookimpl
        def pxos_agents():
            return AgentSpec("rules", lambda s: RuleAgent(), "applies lint fixes", needs_network=False)
    """


@hookspec
def pxos_guardrails() -> Union["Guardrail", Iterable["Guardrail"]]:
    """Register guardrails: machine checks run by ``genesis``, evolution and promotion.

    Contract: ``check(subject, context)`` returns a
    :class:`~pxos_kernel.interfaces.Verdict` with evidence of what it looked at;
    it returns ``unchecked`` when it cannot judge, never ``passed``. Example::

        @hookimpl
        def pxos_guardrails():
            def check(subject, context):
                return Verdict("passed", "ledger verified: 12 records")
            return Guardrail("G3.1", check, "no history deleted", principle="G3")
    """


@hookspec
def pxos_boot_emitters() -> Union["BootEmitter", Iterable["BootEmitter"]]:
    """Register boot emitters for ``pxos-kernel boot``.

    Contract: ``emit(BootRequest)`` returns a :class:`~pxos_kernel.interfaces.BootImage`
    or raises :class:`~pxos_kernel.errors.BootError` naming the source line at fault.
    Example::

        @hookimpl
        def pxos_boot_emitters():
            return BootEmitter("x86-bios", emit_boot_sector, "512-byte BIOS boot sector", run=run_in_qemu)
    """


@hookspec
def pxos_programs() -> Union["Program", Iterable["Program"]]:
    """Register programs runnable as ``pxos-kernel run NAME``.

    Contract: ``entry`` is a ``module:function`` path (or a callable defined at
    a module's top level) called with the command-line strings after ``--``.
    Example::

        @hookimpl
        def pxos_programs():
            return Program("greet", "my_plugin.programs:greet", "says hello to its arguments")
    """


@hookspec
def pxos_subcommands() -> Union["Subcommand", Iterable["Subcommand"]]:
    """Register ``pxos-kernel`` commands; ``"ledger query"`` nests under ``ledger``.

    Contract: ``configure_parser`` only declares arguments; ``action(args)`` does
    the work, may use ``args.kernel``, returns an exit code and reports user errors
    by raising :class:`~pxos_kernel.errors.PxosError`. Example::

        @hookimpl
        def pxos_subcommands():
            def configure(parser):
                parser.add_argument("name")
            def action(args):
                print(f"hello {args.name}")
            return Subcommand("greet", "say hello", action, configure)
    """


@hookspec(firstresult=True)
def pxos_resolve_program(spec: str, cartridge: Optional[str], kernel: Any) -> Optional["Program"]:
    """Resolve a program that is neither a registered name nor ``module:function``.

    Called with ``cartridge`` set by ``run --cartridge NAME``. Return a
    :class:`~pxos_kernel.registrations.Program` or ``None`` to let another
    plugin try; the first non-``None`` answer wins. Example::

        @hookimpl
        def pxos_resolve_program(spec, cartridge, kernel):
            if cartridge:
                return Program(spec, "my_plugin.launch:main", "from archive",
                               leading_args=(archive_path(cartridge), spec), sandbox=True)
    """


@hookspec
def pxos_kernel_booted(kernel: Any) -> None:
    """The kernel loaded its plugins and registries; first lifecycle event of a process.

    Example::

        @hookimpl
        def pxos_kernel_booted(kernel):
            kernel.ledger  # open eagerly
    """


@hookspec
def pxos_program_started(kernel: Any, program: "Program", args: list, record: dict) -> None:
    """A program is about to run; ``record`` is its pre checkpoint, already in the ledger.

    Example::

        @hookimpl
        def pxos_program_started(kernel, program, args, record):
            print("starting", program.name, record["id"])
    """


@hookspec
def pxos_program_finished(kernel: Any, program: "Program", result: Any, record: dict) -> None:
    """A program ended (in any way); ``result`` is its :class:`~pxos_kernel.hypervisor.RunResult`
    and ``record`` the post checkpoint already in the ledger.

    Example::

        @hookimpl
        def pxos_program_finished(kernel, program, result, record):
            if result.status != "ok":
                alert(result.error)
    """


@hookspec
def pxos_kernel_shutdown(kernel: Any) -> None:
    """The kernel is closing; flush and release. Last lifecycle event of a process.

    Example::

        @hookimpl
        def pxos_kernel_shutdown(kernel):
            my_cache.flush()
    """


from pxos_kernel.registrations import (  # noqa: E402  (names used in annotations above)
    AgentSpec,
    BootEmitter,
    Setting,
    SinkSpec,
    Guardrail,
    InferenceEngine,
    Program,
    StorageBackend,
    Subcommand,
)
