"""Packing trees into .pxa archives and reading them back: determinism, selection, validation."""

from __future__ import annotations

import hashlib
import os
import subprocess
import zlib

import pytest
from pxos_kernel import FormatError, NotFoundError

from pxos_cartridge.archive import open_archive, pack_tree
from pxos_cartridge.errors import ArchiveError, HostileArchiveError, MemberIntegrityError, PackError


def test_pack_is_deterministic_and_records_every_member(greeter_tree, tmp_path):
    first, second = tmp_path / "a.pxa", tmp_path / "b.pxa"
    meta = pack_tree(greeter_tree, first)
    os.utime(greeter_tree / "greeter" / "cli.py", (1, 1))  # time stamps must not matter
    pack_tree(greeter_tree, second)
    assert first.read_bytes() == second.read_bytes()
    assert meta["kind"] == "archive" and meta["format"] == "pxos-container"
    paths = [m["path"] for m in meta["members"]]
    assert "greeter/__init__.py" in paths and "greeter/data/greeting.txt" in paths
    for member in meta["members"]:
        data = (greeter_tree / member["path"]).read_bytes()
        assert member["size"] == len(data) and member["sha256"] == hashlib.sha256(data).hexdigest()
        assert set(member) == {"path", "offset", "size", "sha256", "mode"}


def test_archive_is_a_real_png(greeter_tree, tmp_path):
    from PIL import Image

    pack_tree(greeter_tree, tmp_path / "g.pxa")
    with Image.open(tmp_path / "g.pxa") as image:
        image.load()
        assert image.format == "PNG" and image.mode == "RGB"


def test_read_back_and_extract_round_trip(greeter_tree, tmp_path):
    (greeter_tree / "greeter" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(greeter_tree / "greeter" / "run.sh", 0o755)
    pack_tree(greeter_tree, tmp_path / "g.pxa")
    archive = open_archive(tmp_path / "g.pxa")
    assert archive.read("greeter/words.py") == (greeter_tree / "greeter/words.py").read_bytes()
    assert archive.members["greeter/run.sh"].mode == 0o755 and archive.members["greeter/cli.py"].mode == 0o644
    assert archive.manifest["name"] == "greeter" and archive.manifest["programs"] == {"greet": "greeter.cli:main"}
    assert archive.is_dir("greeter/data") and not archive.is_dir("greeter/cli.py")
    assert archive.sha256 == hashlib.sha256((tmp_path / "g.pxa").read_bytes()).hexdigest()
    out = archive.extract(tmp_path / "out")
    for name in archive.names():
        assert (out / name).read_bytes() == (greeter_tree / name).read_bytes()
    assert os.stat(out / "greeter" / "run.sh").st_mode & 0o777 == 0o755
    with pytest.raises(NotFoundError, match="no member 'nope.py'"):
        archive.read("nope.py")


def test_manifest_includes_and_excludes(greeter_tree, tmp_path):
    (greeter_tree / "notes.tmp").write_text("scratch")
    (greeter_tree / "greeter" / "cache.tmp").write_text("scratch")
    (greeter_tree / "docs").mkdir()
    (greeter_tree / "docs" / "guide.md").write_text("not included")
    (greeter_tree / "greeter" / "__pycache__").mkdir()
    (greeter_tree / "greeter" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    names = [m["path"] for m in pack_tree(greeter_tree, tmp_path / "g.pxa")["members"]]
    assert not any(n.endswith((".tmp", ".pyc")) or n.startswith("docs") for n in names)
    assert "tests/test_greeter.py" in names
    only = {"name": "slim", "include": ["greeter/**/*.py"], "exclude": ["greeter/cli.py"]}
    names = [m["path"] for m in pack_tree(greeter_tree, tmp_path / "s.pxa", manifest=only)["members"]]
    assert sorted(names) == ["greeter/__init__.py", "greeter/words.py"]


def test_manifest_file_given_on_the_command_line(greeter_tree, tmp_path):
    manifest = tmp_path / "other.yaml"
    manifest.write_text("name: other\nversion: '2'\ninclude: [greeter/words.py]\n")
    meta = pack_tree(greeter_tree, tmp_path / "o.pxa", manifest=manifest)
    assert [m["path"] for m in meta["members"]] == ["greeter/words.py"]
    assert meta["cartridge"]["name"] == "other" and meta["cartridge"]["version"] == "2"


@pytest.mark.parametrize("text, problem", [
    ("name: Bad Name\n", "name 'Bad Name'"),
    ("nmae: typo\n", "unknown key"),
    ("- a list\n", "must be a mapping"),
    ("programs: {greet: no_colon}\n", "programs must map"),
    ("name: [unclosed\n", "not valid YAML"),
])
def test_bad_manifests_are_refused(greeter_tree, tmp_path, text, problem):
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(text)
    with pytest.raises(PackError, match=problem):
        pack_tree(greeter_tree, tmp_path / "x.pxa", manifest=manifest)
    assert not (tmp_path / "x.pxa").exists()


def test_symlinks_and_missing_directories_are_refused(greeter_tree, tmp_path):
    with pytest.raises(PackError, match="not a directory"):
        pack_tree(tmp_path / "missing", tmp_path / "x.pxa")
    (greeter_tree / "greeter" / "link.py").symlink_to("/etc/passwd")
    with pytest.raises(PackError, match="greeter/link.py is not a regular file"):
        pack_tree(greeter_tree, tmp_path / "x.pxa")


def test_the_cli_packs_and_lists(cli, greeter_tree, tmp_path):
    code, out, err = cli("cartridge", "pack", str(greeter_tree), "-o", str(tmp_path / "g.pxa"), "--json")
    assert code == 0, err
    import json

    summary = json.loads(out)
    assert summary["members"] == 6 and summary["cartridge"]["name"] == "greeter"
    code, out, _ = cli("cartridge", "members", str(tmp_path / "g.pxa"), "--json")
    assert code == 0 and len(json.loads(out)["members"]) == 6
    code, _, err = cli("cartridge", "pack", str(tmp_path / "nope"), "-o", str(tmp_path / "n.pxa"))
    assert code != 0 and err.count("\n") == 1 and "not a directory" in err


# -- hostile archives ------------------------------------------------------------------------


GOOD = [("pkg/__init__.py", b"X = 1\n"), ("pkg/a.py", b"A = 2\n")]


def _members(files):
    out, offset = [], 0
    for name, data in files:
        out.append({"path": name, "offset": offset, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                    "mode": 0o644})
        offset += len(data)
    return out


@pytest.mark.parametrize("path", ["../evil.py", "pkg/../../evil.py", "/etc/passwd", "C:/win.py", "a\\b.py",
                                  "./a.py", "a//b.py", ""])
def test_escaping_and_absolute_paths_are_refused(raw_archive, tmp_path, path):
    archive = raw_archive(tmp_path / "h.pxa", [(path, b"boom\n")])
    with pytest.raises(HostileArchiveError):
        open_archive(archive)


def test_duplicate_members_are_refused(raw_archive, tmp_path):
    archive = raw_archive(tmp_path / "h.pxa", [("pkg/a.py", b"one\n"), ("pkg/a.py", b"two\n")])
    with pytest.raises(HostileArchiveError, match="'pkg/a.py' appears twice"):
        open_archive(archive)


def test_a_file_that_is_also_a_directory_is_refused(raw_archive, tmp_path):
    archive = raw_archive(tmp_path / "h.pxa", [("pkg", b"file\n"), ("pkg/a.py", b"A = 1\n")])
    with pytest.raises(HostileArchiveError, match="both a file and a directory"):
        open_archive(archive)


def test_member_sha256_mismatch_is_refused(raw_archive, tmp_path):
    members = _members(GOOD)
    members[1]["sha256"] = hashlib.sha256(b"something else").hexdigest()
    archive = raw_archive(tmp_path / "h.pxa", GOOD, members=members)
    with pytest.raises(MemberIntegrityError, match="'pkg/a.py' does not match its sha256"):
        open_archive(archive)


@pytest.mark.parametrize("change, problem", [
    ({"offset": 10_000}, "outside"),
    ({"size": 10_000}, "outside"),
    ({"offset": -1}, "outside"),
    ({"offset": 0}, "must not overlap"),
])
def test_members_pointing_outside_the_payload_are_refused(raw_archive, tmp_path, change, problem):
    members = _members(GOOD)
    members[1].update(change)
    archive = raw_archive(tmp_path / "h.pxa", GOOD, members=members)
    with pytest.raises(HostileArchiveError, match=problem):
        open_archive(archive)


def test_unpack_prints_what_it_wrote_as_json(raw_archive, tmp_path, pxos_cli):
    import json

    archive = raw_archive(tmp_path / "h.pxa", GOOD)
    code, out, err = pxos_cli("cartridge", "unpack", str(archive), "-o", str(tmp_path / "out"), "--json")
    result = json.loads(out)
    assert code == 0 and result["files"] == sorted(name for name, _ in GOOD)
    assert result["output"] == str(tmp_path / "out") and len(result["sha256"]) == 64
    assert all((tmp_path / "out" / name).read_bytes() == data for name, data in GOOD)


@pytest.mark.parametrize("path", ["d/" + "x" * 256 + ".py", "/".join(["abcdefgh"] * 120)])
def test_a_member_name_too_long_to_unpack_is_one_line_and_nothing_is_written(raw_archive, tmp_path, pxos_cli,
                                                                              path):
    archive = raw_archive(tmp_path / "h.pxa", [("a.txt", b"first\n"), (path, b"boom\n")])
    before = archive.read_bytes()
    code, out, err = pxos_cli("cartridge", "unpack", str(archive), "-o", str(tmp_path / "out"))
    assert code == 1 and len(err.splitlines()) == 1 and "has a name too long to unpack" in err, err
    assert err.startswith(f"pxos-kernel: error: {archive}: member ")
    assert not (tmp_path / "out").exists() and archive.read_bytes() == before


def test_a_manifest_that_is_not_a_mapping_is_one_line(raw_archive, tmp_path, pxos_cli):
    archive = raw_archive(tmp_path / "h.pxa", GOOD, manifest=["not", "a", "mapping"])
    for argv in (("cartridge", "members", str(archive)), ("cartridge", "register", str(archive))):
        code, out, err = pxos_cli(*argv)
        assert (code, err) == (1, f"pxos-kernel: error: {archive}: its cartridge manifest is list, not a mapping\n")


def test_payload_bytes_no_member_owns_are_refused(raw_archive, tmp_path):
    archive = raw_archive(tmp_path / "h.pxa", GOOD, payload=b"X = 1\nA = 2\nHIDDEN")
    with pytest.raises(HostileArchiveError, match="members cover 12 bytes but the payload has 18"):
        open_archive(archive)


def test_decompression_bomb_by_payload_size_is_refused(raw_archive, tmp_path):
    zeros = bytes(8 * 1024 * 1024)
    archive = raw_archive(tmp_path / "bomb.pxa", [("zeros.bin", zeros)])
    assert archive.stat().st_size < 64 * 1024  # tiny on disk, 8 MiB inflated
    with pytest.raises(HostileArchiveError, match="decompression bomb"):
        open_archive(archive, max_size=1024 * 1024)


def test_decompression_bomb_by_image_size_is_refused(tmp_path):
    """A PNG whose header declares a huge image is refused before a byte is inflated."""
    import struct

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    width = height = 60_000  # 10.8 GB of pixels
    compressor = zlib.compressobj(9)
    row = bytes(width * 3 + 1)
    idat = b"".join(compressor.compress(row) for _ in range(50)) + compressor.flush()
    bomb = tmp_path / "bomb.pxa"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    with pytest.raises(HostileArchiveError, match="decompression bomb"):
        open_archive(bomb)


def test_tampered_payload_fails_the_container_checksum(greeter_tree, tmp_path):
    """Re-encode the image with one payload byte flipped but the old metadata kept."""
    from pxos_kernel.container import read_container, write_container

    pack_tree(greeter_tree, tmp_path / "g.pxa")
    payload, meta = read_container(tmp_path / "g.pxa")
    flipped = bytearray(payload)
    flipped[3] ^= 0xFF
    extra = {k: v for k, v in meta.items() if k in ("members", "cartridge")}
    write_container(tmp_path / "t.pxa", bytes(flipped), kind="archive", meta=extra)
    # the container's own sha256 is recomputed by the writer, so it is the member hash that catches it
    with pytest.raises(MemberIntegrityError):
        open_archive(tmp_path / "t.pxa")
    data = bytearray((tmp_path / "g.pxa").read_bytes())
    data[-20] ^= 0xFF  # inside the compressed image data: CRC or zlib check fails
    (tmp_path / "c.pxa").write_bytes(bytes(data))
    with pytest.raises(FormatError):
        open_archive(tmp_path / "c.pxa")


def test_not_an_archive(tmp_path):
    from pxos_kernel.container import write_container

    write_container(tmp_path / "blob.pxi", b"hello", kind="blob")
    with pytest.raises(ArchiveError, match="kind 'blob', not 'archive'"):
        open_archive(tmp_path / "blob.pxi")
    (tmp_path / "text.pxa").write_text("not a png at all")
    with pytest.raises(ArchiveError, match="not a PNG"):
        open_archive(tmp_path / "text.pxa")
    with pytest.raises(NotFoundError, match="does not exist"):
        open_archive(tmp_path / "missing.pxa")


def test_cli_reports_a_hostile_archive_in_one_line(cli, raw_archive, tmp_path):
    archive = raw_archive(tmp_path / "h.pxa", [("../evil.py", b"x")])
    code, _, err = cli("cartridge", "members", str(archive))
    assert code != 0 and err.count("\n") == 1 and "'../evil.py'" in err
