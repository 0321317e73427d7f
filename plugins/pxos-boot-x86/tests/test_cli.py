"""``pxos-kernel boot targets|build|run`` with the x86-bios emitter."""

from __future__ import annotations

import hashlib
import json

import pytest

from pxos_kernel import Kernel


def boot_records(home) -> list[dict]:
    kernel = Kernel(home)
    try:
        return [r for r in kernel.ledger.records() if r["type"] == "BOOT"]
    finally:
        kernel.close()


def test_targets_lists_x86_bios(pxos_cli):
    code, out, _ = pxos_cli("boot", "targets", "--json")
    assert code == 0
    [target] = [t for t in json.loads(out) if t["target"] == "x86-bios"]
    assert target["plugin"] == "boot_x86" and target["runnable"] is True


def test_build_writes_the_shell_and_records_a_boot_checkpoint(pxos_cli, pxos_home):
    code, out, _ = pxos_cli("boot", "build", "--json")
    assert code == 0
    result = json.loads(out)
    image = pxos_home / "boot" / "x86-bios.img"
    data = image.read_bytes()
    assert result["path"] == str(image) and result["size"] == 512 and data[510:] == b"\x55\xAA"
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    [record] = boot_records(pxos_home)
    assert record["id"] == result["ledger_id"] and record["op"] == "boot_build"
    assert record["payload"]["target"] == "x86-bios"
    assert record["payload"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["payload"]["size"] == 512


def test_build_a_floppy_and_a_listing(pxos_cli, pxos_home, tmp_path):
    out_path, listing = tmp_path / "pxos.img", tmp_path / "pxos.lst"
    code, out, _ = pxos_cli("boot", "build", "--floppy", "-o", str(out_path), "--listing", str(listing))
    assert code == 0 and "floppy-1.44m, 1474560 bytes" in out
    assert out_path.stat().st_size == 1_474_560
    text = listing.read_text()
    assert "7C00  FA" in text and "msg_prompt" in text


def test_a_bad_source_is_one_error_line_naming_file_and_line(pxos_cli, pxos_home, tmp_path):
    source = tmp_path / "typo.pxs"
    source.write_text("ORG 0x7C00\nDB 0xFA\nWIRTE 0x7C01 0x90\n")
    code, out, err = pxos_cli("boot", "build", "--source", str(source))
    assert code != 0 and out == ""
    assert err.strip() == f"pxos-kernel: error: {source}:3: unknown command 'WIRTE' (known: ORG, DEFINE, LABEL, " \
                          "WRITE, DB, DW, CALL, JMP, JE/JNE/JB/..., REL8, REL16, COMMENT)"
    assert not (pxos_home / "boot" / "x86-bios.img").exists() and boot_records(pxos_home) == []


def test_run_without_qemu_says_how_to_install_it(pxos_cli, pxos_home, monkeypatch, tmp_path):
    assert pxos_cli("boot", "build")[0] == 0
    monkeypatch.setenv("PATH", str(tmp_path))   # no qemu-system-i386 anywhere
    code, _, err = pxos_cli("boot", "run", "--headless")
    assert code != 0
    assert "qemu-system-i386 is not installed" in err and "apt-get install qemu-system-x86" in err
    assert len(err.strip().splitlines()) == 1


def test_run_outside_a_terminal_asks_for_headless(pxos_cli, pxos_home, qemu):
    assert pxos_cli("boot", "build")[0] == 0
    code, _, err = pxos_cli("boot", "run")   # pytest's stdin is not a terminal
    assert code != 0 and "--headless" in err


def test_run_json_feeds_stdin_to_the_monitor_and_reports_the_run(pxos_cli, pxos_home, qemu):
    import os
    import subprocess
    import sys

    assert pxos_cli("boot", "build")[0] == 0
    image = pxos_home / "boot" / "x86-bios.img"
    done = subprocess.run([sys.executable, "-m", "pxos_kernel", "boot", "run", "--json"], input="info status\nquit\n",
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PXOS_HOME": str(pxos_home)})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["exit_code"] == 0 and result["target"] == "x86-bios" and result["image"] == str(image)
    assert result["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert "(qemu) info status\nVM status: running\n(qemu) quit" in result["output"]
    assert "\x1b" not in result["output"] and 0 < result["seconds"] < 60
    assert [r["op"] for r in boot_records(pxos_home)][-1] == "boot_run"
    assert boot_records(pxos_home)[-1]["id"] == result["ledger_id"]


def test_monitor_transcript_replays_the_line_editor():
    from pxos_boot_x86.qemu import monitor_transcript

    echoed = "(qemu) i\x1b[K\x1b[Din\x1b[K\x1b[D\x1b[Dinfo\x1b[K\r\nVM status: running\r\n(qemu) ab\x1b[D\x1b[Kc\r\n"
    assert monitor_transcript(echoed) == "(qemu) info\nVM status: running\n(qemu) ac\n"
