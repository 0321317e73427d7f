"""The breaking-change judge: one test per kind of change, on trees built from the real kernel's sources."""

import shutil
from pathlib import Path

import pytest

import pxos_kernel
from pxos_genesis.evolve.breaking import compare_cli, judge, validate
from pxos_genesis.evolve.probes import surface_of
from pxos_genesis.evolve.surface import read_surface

KERNEL = Path(pxos_kernel.__file__).parent


@pytest.fixture
def trees(tmp_path):
    """``(parent, candidate)``: two copies of the installed kernel package; edit the candidate."""
    parent, candidate = tmp_path / "parent", tmp_path / "candidate"
    for tree in (parent, candidate):
        shutil.copytree(KERNEL, tree / "kernel" / "pxos_kernel", ignore=shutil.ignore_patterns("__pycache__"))
    return parent, candidate


def edit(tree: Path, module: str, old: str, new: str) -> None:
    path = tree / "kernel" / "pxos_kernel" / module
    text = path.read_text()
    assert old in text, f"{old!r} not in {module}"
    path.write_text(text.replace(old, new, 1))


def changes(parent: Path, candidate: Path):
    return judge(read_surface(parent), read_surface(candidate))


def test_the_same_tree_has_no_change(trees):
    parent, candidate = trees
    surface = read_surface(parent)
    assert "pxos_storage_backends" in surface.hookspecs and surface.formats["pxos_kernel.ledger.VERSION"] == 1
    assert "pxos_kernel.registrations.Program" in surface.registrations
    assert surface.interfaces["pxos_kernel.interfaces.Storage"]["kind"] == "protocol"
    assert changes(parent, candidate).changes == []


def test_docstrings_comments_and_quoting_are_not_changes(trees):
    parent, candidate = trees
    edit(candidate, "hookspecs.py", '"""Register storage backends,', '"""Register the storage backends,')
    edit(candidate, "hookspecs.py", "def pxos_resolve_program(spec: str, cartridge: Optional[str], kernel: Any)",
         "def pxos_resolve_program(spec: 'str', cartridge: Optional['str'], kernel: Any)")
    assert changes(parent, candidate).changes == []


@pytest.mark.parametrize("old, new, expected", [
    ("def pxos_program_started(kernel: Any, program: \"Program\", args: list, record: dict)",
     "def pxos_program_started(kernel: Any, program: \"Program\", argv: list, record: dict)",
     "parameter args removed; parameter argv added"),
    ("def pxos_kernel_booted(kernel: Any)", "def pxos_kernel_booted(kernel: Any, when: float)",
     "parameter when added"),
    ("def pxos_resolve_program(spec: str,", "def pxos_resolve_program(spec: bytes,",
     "parameter spec annotation str -> bytes"),
    ("@hookspec(firstresult=True)\ndef pxos_resolve_program", "@hookspec\ndef pxos_resolve_program",
     "marker option firstresult True -> unset"),
])
def test_a_hookspec_signature_change_is_breaking(trees, old, new, expected):
    parent, candidate = trees
    edit(candidate, "hookspecs.py", old, new)
    judgement = changes(parent, candidate)
    assert judgement.breaking and len(judgement.changes) == 1
    assert judgement.changes[0].kind == "hookspec" and expected in judgement.changes[0].what


def test_a_removed_hookspec_is_breaking_and_a_new_one_is_not(trees):
    parent, candidate = trees
    edit(candidate, "hookspecs.py", "@hookspec\ndef pxos_kernel_shutdown", "def pxos_kernel_shutdown")
    assert changes(parent, candidate).reasons == ["hookspec pxos_kernel_shutdown: removed"]
    path = candidate / "kernel" / "pxos_kernel" / "hookspecs.py"
    path.write_text(path.read_text() + '\n\n@hookspec\ndef pxos_new_family() -> list:\n    """New."""\n')
    judgement = changes(parent, candidate)
    assert [(c.name, c.breaking) for c in judgement.changes] == [("pxos_kernel_shutdown", True),
                                                                ("pxos_new_family", False)]


# A registration's fields are its constructor's parameters (pxos_kernel.registrations says so).
@pytest.mark.parametrize("old, new, breaking, expected", [
    ('origin: str = "") -> None:', 'origin: str = "", weight: int = 0) -> None:', False,
     "optional field(s) added: weight"),
    ('origin: str = "") -> None:', 'origin: str = "", *, weight: int) -> None:', True,
     "field weight added without a default"),
    ("sandbox: bool = False, ", "", True, "field sandbox removed"),
    ("sandbox: bool = False", "sandbox: bool = True", True, "field sandbox default False -> True"),
    ("leading_args: tuple[str, ...] = ()", "leading_args: list[str] = ()", True,
     "field leading_args annotation tuple[str, ...] -> list[str]"),
    ("name: str, entry: Union[str, Callable[..., Any]],", "entry: Union[str, Callable[..., Any]], name: str,", True,
     "fields reordered"),
])
def test_registration_field_changes(trees, old, new, breaking, expected):
    parent, candidate = trees
    path = candidate / "kernel" / "pxos_kernel" / "registrations.py"
    text = path.read_text()
    start = text.index("class Program(")
    assert old in text[start:], f"{old!r} not in Program"
    path.write_text(text[:start] + text[start:].replace(old, new, 1))
    judgement = changes(parent, candidate)
    (change,) = judgement.changes
    assert change.kind == "registration" and change.name == "pxos_kernel.registrations.Program"
    assert change.breaking is breaking and expected in change.what


@pytest.mark.parametrize("old, new, expected", [
    ("    def exists(self, key: str) -> bool:", "    def has(self, key: str) -> bool:", "member exists removed"),
    ("    def exists(self, key: str) -> bool:", "    def exists(self, key: str, *, strict: bool = False) -> bool:",
     "parameter strict added"),
    ("    def close(self) -> None:\n        \"\"\"Release resources; flush what is buffered.\"\"\"",
     "    def close(self) -> None:\n        \"\"\"Release resources; flush what is buffered.\"\"\"\n\n"
     "    def sync(self) -> None:\n        \"\"\"New.\"\"\"", "member sync added"),
])
def test_an_interface_protocol_method_change_is_breaking(trees, old, new, expected):
    parent, candidate = trees
    edit(candidate, "interfaces.py", old, new)
    (change,) = changes(parent, candidate).changes
    assert change.kind == "interface" and change.name == "pxos_kernel.interfaces.Storage"
    assert change.breaking and expected in change.what


def test_an_interface_dataclass_field_change_is_breaking(trees):
    parent, candidate = trees
    edit(candidate, "interfaces.py", "    reasoning: str = \"\"\n", "")
    (change,) = changes(parent, candidate).changes
    assert change.name == "pxos_kernel.interfaces.Proposal" and change.breaking and "field reasoning removed" in change.what


@pytest.mark.parametrize("module", ["container.py", "ledger.py"])
def test_a_format_version_change_is_breaking(trees, module):
    parent, candidate = trees
    edit(candidate, module, "VERSION = 1\n", "VERSION = 2\n")
    (change,) = changes(parent, candidate).changes
    assert change.kind == "format" and change.breaking and "changed from 1 to 2" in change.what


def test_a_module_that_does_not_parse_is_reported_not_judged(trees):
    parent, candidate = trees
    edit(candidate, "container.py", "VERSION = 1\n", "VERSION = = 1\n")
    surface = read_surface(candidate)
    assert surface.unreadable and surface.unreadable[0].startswith("kernel/pxos_kernel/container.py")
    assert "pxos_kernel.container.VERSION" not in surface.formats


def test_tests_and_foreign_packages_are_not_part_of_the_contract(trees):
    parent, candidate = trees
    for where in ("kernel/pxos_kernel/tests", "site/pluggy"):
        (candidate / where).mkdir(parents=True)
        (candidate / where / "__init__.py").write_text("VERSION = 9\n")
    assert changes(parent, candidate).changes == []


def test_cli_surface_of_the_running_system(pxos_kernel):
    surface = validate(surface_of(pxos_kernel))
    assert "--json" in surface["evolve list"]["options"]
    assert surface["storage put"]["arguments"]


def test_removed_commands_and_options_are_breaking_and_added_ones_are_not():
    old = {"evolve list": {"options": ["--json"], "arguments": []},
           "evolve build": {"options": ["--json", "--timeout"], "arguments": ["proposal"]}}
    new = {"evolve build": {"options": ["--json", "--keep"], "arguments": ["proposal"]},
           "evolve show": {"options": ["--json"], "arguments": ["ref"]}}
    found = {(c.name, c.what, c.breaking) for c in compare_cli(old, new)}
    assert found == {("evolve list", "removed", True), ("evolve show", "added", False),
                     ("evolve build", "option --timeout removed", True),
                     ("evolve build", "option --keep added", False)}
    broken = {"evolve list": {"error": "TypeError: boom"}, "evolve build": old["evolve build"]}
    assert [str(c) for c in compare_cli(old, broken)] == [
        "command evolve list: can no longer declare its arguments (TypeError: boom)"]


@pytest.mark.parametrize("data", [[], {"x": []}, {"x": {"options": "--json"}}, {"x": {"options": [1]}}])
def test_a_malformed_cli_surface_is_refused(data):
    with pytest.raises(ValueError):
        validate(data)
