"""``pxos-kernel storage ...`` on pixelfs:// and infinitemap:// URIs, in-process."""

from __future__ import annotations

import json
import sys

import pytest

from pxos_kernel import container


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"pixels all the way down\n" * 100)
    return path


@pytest.mark.parametrize("scheme", ["pixelfs", "infinitemap"])
def test_put_get_ls_info_verify(pxos_cli, pxos_home, tmp_path, source, scheme):
    code, out, err = pxos_cli("storage", "put", str(source), f"{scheme}://docs/notes", "--content-type",
                              "text/plain", "--json")
    assert code == 0, err
    put = json.loads(out)
    assert put["size"] == source.stat().st_size and put["content_type"] == "text/plain"

    code, out, err = pxos_cli("storage", "get", f"{scheme}://docs/notes", "-o", str(tmp_path / "back.txt"))
    assert code == 0, err
    assert (tmp_path / "back.txt").read_bytes() == source.read_bytes()

    code, out, _ = pxos_cli("storage", "get", f"{scheme}://docs/notes", "--offset", "7", "--length", "3",
                            "-o", str(tmp_path / "range"))
    assert code == 0 and (tmp_path / "range").read_bytes() == source.read_bytes()[7:10]

    code, out, _ = pxos_cli("storage", "ls", f"{scheme}://docs/", "--json")
    assert code == 0 and [i["key"] for i in json.loads(out)] == ["docs/notes"]
    code, out, _ = pxos_cli("storage", "ls", f"{scheme}://")
    assert code == 0 and "docs/notes" in out

    code, out, _ = pxos_cli("storage", "info", f"{scheme}://docs/notes", "--json")
    assert code == 0 and json.loads(out)["sha256"] == put["sha256"]

    code, out, _ = pxos_cli("storage", "verify", f"{scheme}://docs/notes", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_pixelfs_objects_live_under_pxos_home(pxos_cli, pxos_home, source):
    assert pxos_cli("storage", "put", str(source), "pixelfs://a/b")[0] == 0
    path = pxos_home / "storage" / "pixelfs" / "a" / "b.pxi"
    assert container.read_container(path)[0] == source.read_bytes()


@pytest.mark.parametrize("scheme", ["pixelfs", "infinitemap"])
def test_show_writes_a_png(pxos_cli, tmp_path, source, scheme):
    pxos_cli("storage", "put", str(source), f"{scheme}://notes")
    code, out, err = pxos_cli("storage", "show", f"{scheme}://notes", "-o", str(tmp_path / "p.png"), "--width", "300")
    assert code == 0, err
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    assert container.read_container_meta(tmp_path / "p.png")["width"] <= 300
    code, out, err = pxos_cli("storage", "show", f"{scheme}://notes", "-o", str(tmp_path / "q.png"), "--json")
    assert code == 0 and json.loads(out)["source"] == f"{scheme}://notes"


def test_errors_are_one_line(pxos_cli, pxos_home, tmp_path):
    code, out, err = pxos_cli("storage", "get", "pixelfs://missing")
    assert code != 0 and "pixelfs://missing" in err and len(err.strip().splitlines()) == 1
    bad = pxos_home / "storage" / "pixelfs" / "bad.pxi"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"not a png")
    code, out, err = pxos_cli("storage", "verify", "pixelfs://bad")
    assert code != 0 and "is not a PNG" in err and "Traceback" not in err
    code, out, err = pxos_cli("storage", "put", str(tmp_path / "nope"), "pixelfs://x")
    assert code != 0 and "cannot read" in err


def test_backends_are_listed_without_importing_numpy(pxos_home):
    import subprocess  # a child process: this one may have imported numpy for other tests

    done = subprocess.run([sys.executable, "-c", (
        "import sys; from pxos_kernel.cli import main; main(['storage', 'backends', '--json']); "
        "print('HEAVY' if 'numpy' in sys.modules or 'PIL' in sys.modules else 'LIGHT')")],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"pixelfs"' in done.stdout and '"infinitemap"' in done.stdout and done.stdout.strip().endswith("LIGHT")
