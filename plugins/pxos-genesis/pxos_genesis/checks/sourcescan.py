"""Static analysis of a cartridge's Python sources (Genesis §8 and §11).

Nothing here runs the code: every source is parsed with :mod:`ast` and its
imports and calls are read. A cartridge reaches the network only through the
kernel (``kernel.agent(...)``: pxos-agents asks for consent and logs every
request); any other network-capable import or call is a finding. So is code
that hides what it does: ``exec``/``eval``/``compile`` and imports whose module
name is computed at run time.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

#: Modules that open network connections (top-level names and dotted submodules).
NETWORK_MODULES = frozenset({
    "socket", "ssl", "socketserver", "http.client", "http.server", "urllib.request", "urllib3", "requests",
    "httpx", "aiohttp", "ftplib", "smtplib", "poplib", "imaplib", "telnetlib", "nntplib", "xmlrpc.client",
    "xmlrpc.server", "websocket", "websockets", "openai", "paramiko", "grpc", "boto3", "botocore",
    "multiprocessing.connection", "pycurl", "tornado", "twisted", "zmq",
})
#: Calls that connect somewhere even from a module that is not itself network-only.
NETWORK_CALLS = frozenset({
    "asyncio.open_connection", "asyncio.start_server", "asyncio.open_unix_connection",
    "loop.create_connection", "loop.create_datagram_endpoint", "webbrowser.open", "webbrowser.open_new",
})
#: Programs that talk to the network when started by subprocess/os.system.
NETWORK_PROGRAMS = frozenset({"curl", "wget", "nc", "ncat", "netcat", "ssh", "scp", "sftp", "rsync", "telnet",
                              "ftp", "git"})
_PROCESS_CALLS = frozenset({"subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
                            "subprocess.Popen", "os.system", "os.popen", "os.execv", "os.execvp", "os.spawnv"})
_HIDING_CALLS = frozenset({"exec", "eval", "compile", "marshal.loads", "types.CodeType", "types.FunctionType"})
_DYNAMIC_IMPORTS = frozenset({"__import__", "importlib.import_module", "importlib.__import__"})
#: File suffixes that are compiled code: nobody can read what they do.
BINARY_CODE_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib")


@dataclass(frozen=True)
class Finding:
    """One suspicious construct in one source file."""

    kind: str  # "network-import", "network-call", "hidden-code", "unparsable"
    path: str
    line: int
    what: str
    #: What was used, as a manifest's ``declared_uses`` names it: ``import:socket``, ``call:socket.socket``,
    #: ``run:curl``, ``exec``, ``eval``, ``compile``, ``marshal.loads``, ``import_module``, ``__import__``.
    construct: str = ""

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"

    def __str__(self) -> str:
        return f"{self.location}: {self.what}"


def is_network_module(module: str, allowed: Iterable[str] = ()) -> bool:
    """Whether importing ``module`` gives network access (``allowed`` lists consented clients)."""
    if any(module == a or module.startswith(a + ".") for a in allowed):
        return False
    return network_root(module) is not None


def network_root(module: str) -> Optional[str]:
    """The network module ``module`` is or lies in (``socket.AddressFamily`` -> ``socket``), else None."""
    parts = module.split(".")
    for n in range(1, len(parts) + 1):
        if ".".join(parts[:n]) in NETWORK_MODULES:
            return ".".join(parts[:n])
    return None


def scan_source(source: str, path: str, allowed: Iterable[str] = (), tree: Optional[ast.AST] = None) -> list[Finding]:
    """Every finding in one Python source file (``tree``: its syntax tree, when already parsed)."""
    try:
        if isinstance(tree, SyntaxError):
            raise tree
        tree = tree or ast.parse(source, filename=path)
    except SyntaxError as exc:
        return [Finding("unparsable", path, exc.lineno or 0, f"cannot be parsed, so cannot be inspected: {exc.msg}",
                        "unparsable")]
    return list(_Scanner(path, tuple(allowed)).scan(tree))


class _Scanner:
    """Walks one module, resolving names bound by imports (``import socket as s`` -> ``s.x`` is ``socket.x``)."""

    def __init__(self, path: str, allowed: tuple[str, ...]) -> None:
        self.path, self.allowed = path, allowed
        self.aliases: dict[str, str] = {}

    def scan(self, tree: ast.AST) -> Iterator[Finding]:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.aliases[(alias.asname or alias.name).split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0])
                    yield from self._import(node, alias.name)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    self.aliases[alias.asname or alias.name] = full
                    yield from self._import(node, full if is_network_module(full) else node.module)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                yield from self._call(node)

    def _import(self, node: ast.stmt, module: str) -> Iterator[Finding]:
        if is_network_module(module, self.allowed):
            yield Finding("network-import", self.path, node.lineno, f"imports {module}, which opens network "
                          "connections outside the kernel's consented, logged client",
                          f"import:{network_root(module)}")

    def _call(self, node: ast.Call) -> Iterator[Finding]:
        name = self._dotted(node.func)
        if name is None:
            return
        if name in _DYNAMIC_IMPORTS:
            target = _literal(node.args[0]) if node.args else None
            if target is None:
                yield Finding("hidden-code", self.path, node.lineno,
                              f"{name}() with a module name computed at run time", name.rpartition(".")[2])
            elif is_network_module(target, self.allowed):
                yield Finding("network-import", self.path, node.lineno, f"{name}({target!r}) loads a network module",
                              f"import:{network_root(target)}")
        elif name in _HIDING_CALLS or name.endswith(".exec_module") and "importlib" in name:
            yield Finding("hidden-code", self.path, node.lineno, f"calls {name}(), which runs code not visible "
                          "in the source", name if name in _HIDING_CALLS else "exec_module")
        elif name in NETWORK_CALLS or name.endswith(".create_connection") or name.endswith(".urlopen"):
            yield Finding("network-call", self.path, node.lineno, f"calls {name}(), which opens a connection",
                          f"call:{name}")
        elif is_network_module(name.rpartition(".")[0] or name, self.allowed) and name.rpartition(".")[0]:
            yield Finding("network-call", self.path, node.lineno, f"calls {name}()", f"call:{name}")
        elif name in _PROCESS_CALLS and node.args:
            program = _program_name(node.args[0])
            if program in NETWORK_PROGRAMS:
                yield Finding("network-call", self.path, node.lineno, f"{name}() starts {program!r}, a network client",
                              f"run:{program}")

    def _dotted(self, node: ast.AST) -> Optional[str]:
        """``a.b.c`` for attribute chains on a name, with the import alias of ``a`` resolved."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(self.aliases.get(node.id, node.id))
        return ".".join(reversed(parts))


def _literal(node: ast.AST) -> Optional[str]:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _program_name(node: ast.AST) -> Optional[str]:
    """The program a subprocess call starts: the first word of a string, or the first list item."""
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        node = node.elts[0]
    text = _literal(node)
    if not text or not text.split():
        return None
    return text.split()[0].rsplit("/", 1)[-1]
