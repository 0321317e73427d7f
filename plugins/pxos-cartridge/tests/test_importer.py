"""Running Python from a .pxa: modules, packages, relative imports, resources, tracebacks."""

from __future__ import annotations

import importlib
import importlib.resources
import linecache
import sys
import traceback
import uuid

import pytest

from pxos_cartridge.archive import pack_tree
from pxos_cartridge.importer import ArchiveFinder, install, uninstall


@pytest.fixture
def app(tmp_path, clean_modules):
    """An archive holding a uniquely named package, so tests never share sys.modules entries."""
    name = f"cartapp_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "src"
    pkg = root / name
    (pkg / "sub").mkdir(parents=True)
    (pkg / "data").mkdir()
    (pkg / "__init__.py").write_text("from .sub.helper import doubled\nVALUE = 21\n")
    (pkg / "util.py").write_text("def twice(x):\n    return 2 * x\n\n\ndef boom():\n"
                                 "    raise RuntimeError('archived failure')  # marker-line\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "helper.py").write_text("from ..util import twice\nfrom . import __name__ as _parent\n\n\n"
                                           "def doubled():\n    from .. import VALUE\n    return twice(VALUE)\n")
    (pkg / "data" / "config.json").write_text('{"colour": "teal"}')
    (pkg / "latin.py").write_bytes("# -*- coding: latin-1 -*-\nWORD = 'café'\n".encode("latin-1"))
    (root / f"{name}_ns" / "inner").mkdir(parents=True)
    (root / f"{name}_ns" / "inner" / "mod.py").write_text("NS = True\n")
    archive = tmp_path / "app.pxa"
    pack_tree(root, archive)
    return name, archive


def test_modules_packages_and_relative_imports(app):
    name, archive = app
    with ArchiveFinder.installed(archive) as finder:
        package = importlib.import_module(name)
        assert package.VALUE == 21 and package.doubled() == 42
        assert importlib.import_module(f"{name}.util").twice(4) == 8
        assert f"{name}.sub.helper" in finder.modules()
    assert finder not in sys.meta_path


def test_file_and_spec_look_like_zipimport(app):
    name, archive = app
    finder = install(archive)
    try:
        package = importlib.import_module(name)
        util = importlib.import_module(f"{name}.util")
    finally:
        uninstall(finder)
    assert package.__file__ == f"{archive}/{name}/__init__.py"
    assert util.__file__ == f"{archive}/{name}/util.py"
    assert package.__path__ == [f"{archive}/{name}"]
    assert util.__spec__.origin == util.__file__ and util.__spec__.has_location
    assert util.__spec__.parent == name and util.__package__ == name
    assert util.__loader__ is finder.loader and util.__spec__.submodule_search_locations is None
    assert finder.loader.is_package(name) and not finder.loader.is_package(f"{name}.util")
    assert "def twice" in util.__loader__.get_source(util.__name__)


def test_source_encoding_cookie_is_honoured(app):
    name, archive = app
    with ArchiveFinder.installed(archive):
        assert importlib.import_module(f"{name}.latin").WORD == "café"


def test_directory_without_init_imports_as_a_package(app):
    name, archive = app
    with ArchiveFinder.installed(archive):
        assert importlib.import_module(f"{name}_ns.inner.mod").NS is True


def test_importlib_resources_reads_data_files(app):
    name, archive = app
    with ArchiveFinder.installed(archive):
        importlib.import_module(name)
        root = importlib.resources.files(name)
        assert root.joinpath("data", "config.json").read_text() == '{"colour": "teal"}'
        assert (root / "data" / "config.json").read_bytes() == b'{"colour": "teal"}'
        assert sorted(p.name for p in root.iterdir()) == ["__init__.py", "data", "latin.py", "sub", "util.py"]
        assert (root / "data").is_dir() and not (root / "data").is_file()
        with (root / "data" / "config.json").open("rb") as stream:
            assert stream.read(1) == b"{"
        with pytest.raises(FileNotFoundError):
            (root / "nope.txt").read_bytes()
        with importlib.resources.as_file(root / "data" / "config.json") as real:
            assert real.read_text() == '{"colour": "teal"}'


def test_tracebacks_show_the_archived_source_lines(app):
    name, archive = app
    with ArchiveFinder.installed(archive):
        util = importlib.import_module(f"{name}.util")
        try:
            util.boom()
        except RuntimeError:
            text = traceback.format_exc()
    assert f"{archive}/{name}/util.py\", line 6, in boom" in text
    assert "raise RuntimeError('archived failure')  # marker-line" in text
    assert "marker-line" in linecache.getline(f"{archive}/{name}/util.py", 6)


def test_unknown_modules_fall_through_to_other_finders(app):
    name, archive = app
    with ArchiveFinder.installed(archive):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"{name}.missing")
        import json  # the stdlib is still found

        assert json.dumps(1) == "1"


def test_a_hostile_archive_is_never_installed(raw_archive, tmp_path, clean_modules):
    from pxos_cartridge.errors import HostileArchiveError

    archive = raw_archive(tmp_path / "h.pxa", [("../evil.py", b"import os\n")])
    before = list(sys.meta_path)
    with pytest.raises(HostileArchiveError):
        install(archive)
    assert sys.meta_path == before


def test_pkgutil_get_data_reads_members(app):
    import pkgutil

    name, archive = app
    with ArchiveFinder.installed(archive):
        importlib.import_module(name)
        assert pkgutil.get_data(name, "data/config.json") == b'{"colour": "teal"}'
        with pytest.raises(FileNotFoundError):
            pkgutil.get_data(name, "data/missing.json")
