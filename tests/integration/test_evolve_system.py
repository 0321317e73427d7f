"""pxOS evolves itself, end to end, on a real system cartridge booted by the stdlib shim.

One system (the kernel and pxos-pixelfs, carrying pixelfs' tests) is packed,
registered, tested and made current once for the module; every test leaves
that version current again. Everything runs through the command line: the
installed ``pxos-kernel`` builds and judges, ``python3 -I -S pxos.py`` boots the
current system cartridge with nothing pip-installed on its path.

* a human patch that improves pixelfs: built, experimental, promoted by a
  human; the shim runs the new code; rolled back; the shim runs the old code;
  both moves in the ledger, and genesis passes on the new current version;
* a proposal from pixellm-local, whose output is garbage: a failed experiment,
  kept with its reason;
* a patch that changes a hookspec's signature: judged breaking by the
  pipeline; promotion without ``--breaking-ok`` refused;
* promotion with ``--approver llm``: refused;
* a patch whose test reads PXOS_HOME: it fails inside the sandbox;
* an unknown parent, a patch that is no diff, one against a file the system
  does not hold, a syntax error: one line each, the failed build kept.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIXELFS = "plugins/pxos-pixelfs/pxos_pixelfs/pixelfs.py"
PIXELFS_TESTS = "plugins/pxos-pixelfs/tests/test_pixelfs.py"


class System:
    """The module's PXOS_HOME, the CLI on it and the shim that boots its current system."""

    def __init__(self, home: Path, work: Path) -> None:
        self.home, self.work = home, work
        self.env = {**os.environ, "PXOS_HOME": str(home)}
        self.env.pop("PXOS_PLUGINS", None)

    def cli(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "pxos_kernel", *argv], env=self.env, capture_output=True,
                              text=True, timeout=900, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise AssertionError(f"pxos-kernel {' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def json(self, *argv: str) -> dict:
        return json.loads(self.cli(*argv, "--json").stdout)

    def shim(self, *argv: str) -> subprocess.CompletedProcess:
        """``python3 -I -S pxos.py ARGV``: nothing but the standard library from the host."""
        env = {"PATH": os.environ.get("PATH", os.defpath), "PXOS_HOME": str(self.home), "LANG": "C.UTF-8",
               "HOME": str(self.work)}
        return subprocess.run([sys.executable, "-I", "-S", str(self.work / "pxos.py"), *argv], env=env,
                              capture_output=True, text=True, timeout=300, cwd=self.work)

    def current(self) -> str:
        return self.json("world", "show")["version"]

    def propose(self, patch: str, goal: str, reason: str = "", **flags: str) -> str:
        path = self.work / "proposal.patch"
        path.write_text(patch)
        argv = ["evolve", "propose", "--cartridge", "pxos", "--goal", goal, "--patch", str(path),
                "--reason", reason or f"because: {goal}", "--author", "ada"]
        return self.json(*argv)["proposal"]

    def build(self, proposal: str) -> tuple[int, dict]:
        done = self.cli("evolve", "build", proposal, "--json", check=False)
        return done.returncode, json.loads(done.stdout)


def checkout_diff(path: str, old: str, new: str) -> str:
    """A patch as ``git diff`` in a checkout of the repository makes it (the build maps it to the archive)."""
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> System:
    from pxos_kernel.testing import require_system_package

    require_system_package("bwrap", "bubblewrap")
    work = tmp_path_factory.mktemp("evolve-system")
    home = work / "home"
    home.mkdir()
    it = System(home, work)
    archive = work / "pxos.pxa"
    it.cli("world", "pack", "--plugins", "pxos-pixelfs", "--tests", "pxos-pixelfs", "-o", str(archive),
           "--shim", str(work))
    version = it.json("world", "register", str(archive), "--by", "ada", "--notes", "the first self-hosted pxOS")[
        "version"]
    it.cli("world", "test", version)
    it.cli("world", "promote", version, "--approved-by", "ada", "--reason", "tests and guardrails pass")
    it.base = version
    return it


CONTENT_TYPE = ("        meta = {} if content_type is None else {\"content_type\": content_type}\n",
                "        content_type = content_type or mimetypes.guess_type(key)[0]  # notes.txt: text/plain\n"
                "        meta = {} if content_type is None else {\"content_type\": content_type}\n")


def improvement() -> str:
    source = (REPO / PIXELFS).read_text()
    improved = source.replace("import hashlib\nimport os\n", "import hashlib\nimport mimetypes\nimport os\n", 1)
    improved = improved.replace(*CONTENT_TYPE)
    tests = (REPO / PIXELFS_TESTS).read_text()
    more = tests + ("\n\ndef test_the_content_type_is_guessed_from_the_key(pixelfs):\n"
                    "    assert pixelfs.put(\"docs/notes.txt\", b\"hello\").content_type == \"text/plain\"\n")
    return checkout_diff(PIXELFS, source, improved) + checkout_diff(PIXELFS_TESTS, tests, more)


@pytest.fixture(scope="module")
def improved(system) -> dict:
    """The build of the improvement (built once: a second build of the same tree is refused as a duplicate)."""
    code, result = system.build(system.propose(improvement(), "guess a stored object's content type from its key"))
    assert code == 0 and result["status"] == "experimental", result["reason"]
    return result


def stored_content_type(system: System) -> object:
    note = system.work / "note-data"
    note.write_bytes(b"pixels all the way down\n")
    done = system.shim("storage", "put", str(note), "pixelfs://docs/notes.txt", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["content_type"]


def test_a_human_improvement_is_built_promoted_by_a_human_and_rolled_back(system, improved):
    assert stored_content_type(system) is None  # the old behaviour
    result = improved
    version = result["version"]
    assert result["tests"]["passed"] and result["tests"]["counts"]["passed"] > 0, result["tests"]
    assert "pxos-pixelfs" in result["tests"]["what"] and result["breaking"]["breaking"] is False
    assert set(result["benchmarks"]["figures"]) == {"plugins cold start", "storage put+get", "ledger append"}
    record = system.json("world", "show", version)
    assert record["status"] == "experimental" and record["parent"] == system.base
    assert record["builder"] == {"kind": "human", "who": "ada"} and record["benchmarks"]
    assert system.current() == system.base  # the pipeline never promotes

    system.cli("world", "promote", version, "--approved-by", "ada", "--reason", "content types help viewers")
    assert system.current() == version and stored_content_type(system) == "text/plain"  # the shim runs the new code
    genesis = system.json("genesis", "--cartridge", "pxos")  # judges the current system cartridge
    assert genesis["counts"]["failed"] == 0, [i for i in genesis["items"] if i["status"] == "failed"]

    system.cli("world", "rollback", "--approved-by", "ada", "--reason", "back to the known base")
    assert system.current() == system.base and stored_content_type(system) is None  # and the old code again
    moves = [(h["action"], h["version"], h["outcome"]) for h in system.json("world", "history")
             if h["action"] in ("promote", "rollback")]
    assert moves[-2:] == [("promote", version, "done"), ("rollback", system.base, "done")]


def test_a_garbage_proposal_from_the_local_model_is_a_kept_failed_experiment(system):
    done = system.cli("evolve", "propose", "--cartridge", "pxos", "--agent", "pixellm-local", "--goal",
                      "make pixelfs faster", "--file", "site-packages/pxos_pixelfs/keys.py", "--json")
    proposal = json.loads(done.stdout)
    assert proposal["builder"]["kind"] == "llm" and proposal["builder"]["who"] == "pixellm-local"
    assert proposal["reasoning"] and "completion by" not in proposal["reasoning"]  # the model's own words
    code, result = system.build(proposal["proposal"])
    assert code == 1 and result["status"] == "failed" and result["reason"], result
    assert result["kept"] and Path(result["workspace"], "tree").is_dir()
    listed = {r["id"]: r for r in system.json("evolve", "list")}
    assert listed[result["ledger_id"]]["status"].startswith("failed")
    shown = system.json("evolve", "show", result["ledger_id"])
    assert shown["proposal"]["reasoning"] == proposal["reasoning"] and shown["builds"][0]["reason"] == result["reason"]


def test_a_hookspec_signature_change_is_breaking_and_needs_breaking_ok(system):
    path = "kernel/pxos_kernel/hookspecs.py"
    source = (REPO / path).read_text()
    changed = source.replace("def pxos_kernel_booted(kernel: Any) -> None:",
                             "def pxos_kernel_booted(kernel: Any, reason: str = \"start\") -> None:", 1)
    assert changed != source
    code, result = system.build(system.propose(checkout_diff(path, source, changed), "say why the kernel booted"))
    assert result["breaking"]["breaking"] is True, result
    assert any("pxos_kernel_booted" in line for line in result["breaking"]["reasons"])
    assert code == 0 and result["status"] == "experimental", result["reason"]
    refused = system.cli("world", "promote", result["version"], "--approved-by", "ada", "--reason", "x", check=False)
    assert refused.returncode != 0 and "--breaking-ok" in refused.stderr and refused.stderr.count("\n") == 1
    assert system.current() == system.base
    refused = system.cli("world", "promote", result["version"], "--approved-by", "pixellm-local", "--approver", "llm",
                         "--breaking-ok", "--reason", "x", check=False)
    assert refused.returncode != 0 and system.current() == system.base

    system.cli("world", "promote", result["version"], "--approved-by", "ada", "--breaking-ok", "--reason",
               "reviewed: plugins implementing pxos_kernel_booted keep working")
    assert system.current() == result["version"]
    system.cli("world", "rollback", "--to", system.base, "--approved-by", "ada", "--breaking-ok", "--reason", "back")
    assert system.current() == system.base


def test_an_llm_approver_is_refused_for_the_system(system, improved):
    refused = system.cli("world", "promote", improved["version"], "--approved-by", "pixellm-local", "--approver", "llm",
                         "--reason", "it passed", check=False)
    assert refused.returncode != 0 and "only a named human" in refused.stderr
    assert system.current() == system.base


def test_a_test_reading_pxos_home_fails_inside_the_sandbox(system):
    tests = (REPO / PIXELFS_TESTS).read_text()
    ledger = system.home / "ledger"
    spy = tests + (f"\n\ndef test_reads_the_ledger():\n"
                   f"    import pathlib\n"
                   f"    assert sorted(p.name for p in pathlib.Path({str(ledger)!r}).iterdir())\n")
    code, result = system.build(system.propose(checkout_diff(PIXELFS_TESTS, tests, spy), "peek at the ledger"))
    assert code == 1 and result["status"] == "failed" and result["stage"] == "tests", result
    assert "test_reads_the_ledger" in result["tests"]["output"] and "FileNotFoundError" in result["tests"]["output"]
    assert ledger.is_dir()  # it is there: the sandbox hid it


def test_bad_proposals_against_the_system_end_as_one_line_and_lose_nothing(system):
    unknown = system.cli("evolve", "propose", "--cartridge", "pxos", "--parent", "9.9.9", "--goal", "g", "--patch",
                         str(system.work / "proposal.patch"), "--reason", "r", check=False)
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1 and "unknown parent version" in unknown.stderr
    source = (REPO / PIXELFS).read_text()
    cases = {
        "not a unified diff": "make it faster, please\n",
        "which is not in pxos@": checkout_diff("plugins/pxos-pixelfs/pxos_pixelfs/nothere.py", "a\n", "b\n"),
        "pixelfs.py: Python syntax error at line": checkout_diff(PIXELFS, source, source.replace("import hashlib\n", "import hashlib(\n", 1)),
    }
    for expected, patch in cases.items():
        code, result = system.build(system.propose(patch, f"a bad proposal: {expected}"))
        assert code == 1 and result["status"] == "failed" and expected in result["reason"], result
        assert "\n" not in result["reason"] and Path(result["workspace"], "proposal.patch").is_file()
        shown = system.json("evolve", "show", result["ledger_id"])
        assert shown["builds"][0]["reason"] == result["reason"]
    assert system.current() == system.base
