#!/usr/bin/env python3
"""pxOS boot shim: run pxOS from a system cartridge with the Python standard library alone.

    python3 -I pxos.py COMMAND ...                        the current system of PXOS_HOME
    python3 -I pxos.py --world NAME@VERSION COMMAND ...   another registered version (its programs run sandboxed)
    python3 -I pxos.py --world FILE.pxa COMMAND ...       a registered archive file
    python3 -I pxos.py --world FILE.pxa --sha256 HEX ...  an archive checked against a hash you were given
    python3 -I pxos.py [--world ...] -m MODULE ARGS ...   run a module of the system, as ``python -m`` does
    python3 -I pxos.py --world ... --test-run -m pytest   what ``world test`` runs (in its sandbox): test tools
                                                          from site-packages, after the archive

What happens, in order, before any code from the archive runs:

1. PXOS_HOME is found as the kernel finds it, and the system to boot in its
   cartridge registry (``cartridges/registry.json``, cartridge name ``pxos``).
2. The archive is read as a PNG: signature, every chunk's CRC-32, an 8-bit RGB
   image, the pxOS metadata and its member table (paths, bounds, no gaps).
3. The sha256 of the whole file is compared with the registry's (or --sha256).
4. The payload is inflated (or taken from a cache under PXOS_HOME named by that
   sha256), and every member's bytes are checked against its sha256 when read.
5. Everything that is not the standard library leaves ``sys.path`` and
   ``sys.meta_path`` (site-packages, editable installs), and the archive finder
   goes first: it imports modules, answers ``importlib.metadata`` and gives
   ``importlib.resources`` Traversables, all from the archive.

Then ``sys.argv`` goes to ``pxos_kernel.cli``. Compiled code is cached under
``PXOS_HOME/cache/bytecode``, keyed by the interpreter's magic number and the
member's sha256, and checked against its own sha256 when loaded. Native
extensions (``world pack --native``) are extracted on first import into
``PXOS_HOME/cache/native/<platform>/<sha256>/``, verified file by file.

This file is also the module ``pxos_cartridge.boot``, pxos-cartridge's archive
importer (``world pack --shim DIR`` writes it out; a test keeps ``pxos.py`` at
the repository root identical). It must stay standard-library only, and its
syntax readable by any Python 3, so that an old interpreter gets one clear error.
"""

import hashlib
import json
import os
import struct
import sys
import zlib
from collections import namedtuple

SYSTEM = "pxos"
MIN_PYTHON = (3, 11)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_MEMBERS = 200000
#: The longest member name component and path an archive may hold (Linux NAME_MAX, and well under PATH_MAX).
MAX_NAME_BYTES, MAX_PATH_BYTES = 255, 1024
SITE = "site-packages/"  # the import root of a system cartridge


class BootError(Exception):
    """Why the shim refuses to boot; printed as one line."""


# -- where things are --------------------------------------------------------------------------


def home_dir(env=None):
    """PXOS_HOME, else the user data directory that ``platformdirs.user_data_dir("pxos")`` names."""
    env = os.environ if env is None else env
    if env.get("PXOS_HOME"):
        return os.path.expanduser(env["PXOS_HOME"])
    if sys.platform == "win32":
        return os.path.join(env.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local"), "pxos")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Application Support/pxos")
    base = env.get("XDG_DATA_HOME", "")  # the XDG rule: only an absolute path counts
    return os.path.join(base if os.path.isabs(base) else os.path.expanduser("~/.local/share"), "pxos")


def registry_records(home):
    """The registered versions of the system cartridge: {version: record}."""
    path = os.path.join(home, "cartridges", "registry.json")
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
        return data["cartridges"].get(SYSTEM, {"versions": {}, "current": None})
    except FileNotFoundError:
        return {"versions": {}, "current": None}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BootError("cartridge registry {}: cannot be read ({})".format(path, exc))


def object_path(home, sha256):
    return os.path.join(home, "cartridges", "objects", sha256[:2], sha256 + ".pxa")


def choose_system(home, world, sha256):
    """``(archive path, expected sha256, boot record)`` for ``--world`` (None: the current system)."""
    entry = registry_records(home)
    versions = entry.get("versions") or {}
    if world is not None and (world.endswith(".pxa") or os.sep in world):
        path = os.path.abspath(world)
        if sha256 is not None:
            return path, sha256, {"name": SYSTEM, "version": None, "current": False}
        digest = file_sha256(path)
        for record in versions.values():
            if record.get("sha256") == digest:
                return path, digest, _boot_record(record, entry)
        raise BootError("{} (sha256 {}) is not a registered system cartridge of {}: register it with "
                        "'pxos-kernel world register {}', or give the --sha256 you trust".format(
                            path, digest[:16], home, world))
    if world is None:
        version = entry.get("current")
        if not version:
            raise BootError("no current system cartridge in {}: pack and register one with 'pxos-kernel world "
                            "pack -o pxos.pxa && pxos-kernel world register pxos.pxa' (then promote it), or "
                            "boot one with --world".format(home))
    else:
        name, _, version = world.partition("@")
        if name != SYSTEM or not version:
            raise BootError("--world {!r}: give {}@VERSION or a .pxa file".format(world, SYSTEM))
    record = versions.get(version)
    if record is None:
        raise BootError("system cartridge {}@{} is not registered in {} (registered: {})".format(
            SYSTEM, version, home, ", ".join(versions) or "none"))
    return object_path(home, record["sha256"]), record["sha256"], _boot_record(record, entry)


def _boot_record(record, entry):
    return {"name": SYSTEM, "version": record.get("version"), "current": entry.get("current") == record.get("version")}


def file_sha256(path):
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise BootError("{}: cannot read it ({})".format(path, exc.strerror))
    return digest.hexdigest()


# -- reading the archive -----------------------------------------------------------------------


def read_png(data, where):
    """``(metadata, IDAT data)`` of a pixel container written by pxOS, every chunk's CRC checked."""
    if data[:8] != PNG_SIGNATURE:
        raise BootError("{}: not a PNG file, so not a pixel archive".format(where))
    pos, meta, idat, header = 8, None, [], None
    view = memoryview(data)
    while True:
        if pos + 8 > len(data):
            raise BootError("{}: truncated PNG (it ends before its IEND chunk)".format(where))
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise BootError("{}: truncated PNG (it ends inside its {} chunk)".format(where, kind.decode("latin-1")))
        body = view[pos + 8:pos + 8 + length]
        if zlib.crc32(body, zlib.crc32(kind)) != struct.unpack(">I", data[end - 4:end])[0]:
            raise BootError("{}: damaged PNG: the CRC of its {} chunk at byte {} does not match".format(
                where, kind.decode("latin-1"), pos))
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"iTXt" and bytes(body[:5]) == b"pxos\x00":
            meta = _itxt_json(bytes(body), where)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos = end
    if header is None or header[2:] != (8, 2, 0, 0, 0):
        raise BootError("{}: not an 8-bit RGB PNG written by pxOS".format(where))
    if not isinstance(meta, dict) or meta.get("format") != "pxos-container" or meta.get("kind") != "archive":
        raise BootError("{}: a PNG without pxOS archive metadata, so not a pixel archive".format(where))
    if meta.get("version") != 1:
        raise BootError("{}: pixel container version {!r}; this shim reads version 1".format(where, meta.get("version")))
    meta["width"], meta["height"] = header[0], header[1]
    return meta, idat


def _itxt_json(body, where):
    """The JSON text of an uncompressed iTXt chunk: keyword, flags, language and translated keyword first."""
    _, _, rest = body.partition(b"\x00")
    if rest[:1] != b"\x00":
        raise BootError("{}: its pxos metadata chunk is compressed, which pxOS never writes".format(where))
    _, _, rest = rest[2:].partition(b"\x00")  # language tag
    _, _, text = rest.partition(b"\x00")  # translated keyword
    try:
        return json.loads(text.decode("utf-8"))
    except ValueError as exc:
        raise BootError("{}: its pxos metadata is not valid JSON ({})".format(where, exc))


def inflate_payload(meta, idat, where):
    """The payload: the image rows inflated, each row's filter byte (always 0 from pxOS) dropped."""
    stride = meta["width"] * 3 + 1
    try:
        rows = bytearray(zlib.decompress(b"".join(idat)))
    except zlib.error as exc:
        raise BootError("{}: damaged image data ({})".format(where, exc))
    if len(rows) != stride * meta["height"]:
        raise BootError("{}: image data holds {} bytes, not the {} its size needs".format(
            where, len(rows), stride * meta["height"]))
    if rows[0::stride].count(0) != meta["height"]:
        raise BootError("{}: rows use PNG filters other than None: this file was re-encoded by another tool; "
                        "read it with pxos-cartridge, or pack it again".format(where))
    del rows[0::stride]
    payload = bytes(memoryview(rows)[:meta["length"]])
    if hashlib.sha256(payload).hexdigest() != meta["sha256"]:
        raise BootError("{}: its payload does not match the sha256 in its metadata".format(where))
    return payload


def check_members(meta, length, where, error=BootError, hostile=BootError):
    """Validate the member table against the payload: safe paths that file systems can hold, no duplicates,
    exact tiling; and that the manifest stored beside it is a mapping."""
    manifest = meta.get("cartridge")
    if manifest is not None and not isinstance(manifest, dict):
        raise error("{}: its cartridge manifest is {}, not a mapping".format(where, type(manifest).__name__))
    table = meta.get("members")
    if not isinstance(table, list):
        raise error("{}: metadata has no member list".format(where))
    if len(table) > MAX_MEMBERS:
        raise hostile("{}: {} members is more than the limit of {}".format(where, len(table), MAX_MEMBERS))
    members, end = {}, 0
    for entry in table:
        if not isinstance(entry, dict):
            raise error("{}: a member entry is not an object".format(where))
        path = entry.get("path")
        if not isinstance(path, str) or not path:
            raise hostile("{}: a member has no valid path ({!r})".format(where, path))
        if path.startswith("/") or "\\" in path or "\x00" in path or (len(path) > 1 and path[1] == ":"):
            raise hostile("{}: member {!r} has an absolute path".format(where, path))
        if any(part in ("", ".", "..") for part in path.split("/")):
            raise hostile("{}: member {!r} has a '..', '.' or empty path component".format(where, path))
        longest = max(len(part.encode("utf-8", "surrogatepass")) for part in path.split("/"))
        if longest > MAX_NAME_BYTES or len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
            raise hostile("{}: member {!r} has a name too long to unpack ({} bytes in one component, {} in all; "
                          "file systems hold {} and {})".format(where, path[:40] + "...", longest, len(path.encode(
                              "utf-8", "surrogatepass")), MAX_NAME_BYTES, MAX_PATH_BYTES))
        if path in members:
            raise hostile("{}: member {!r} appears twice".format(where, path))
        offset, size, mode, digest = entry.get("offset"), entry.get("size"), entry.get("mode"), entry.get("sha256")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (offset, size, mode)):
            raise error("{}: member {!r} has a non-integer offset, size or mode".format(where, path))
        if offset < 0 or size < 0 or offset + size > length:
            raise hostile("{}: member {!r} (offset {}, size {}) points outside the {}-byte payload".format(
                where, path, offset, size, length))
        if offset != end:
            raise hostile("{}: member {!r} starts at {}, not at {} where the previous member ends (members must "
                          "not overlap or leave gaps)".format(where, path, offset, end))
        if not (isinstance(digest, str) and len(digest) == 64 and not digest.strip("0123456789abcdef")) \
                or not 0 <= mode <= 0o7777:
            raise error("{}: member {!r} has an invalid sha256 or mode".format(where, path))
        end = offset + size
        members[path] = Member(path, offset, size, digest, mode)
    if end != length:
        raise hostile("{}: members cover {} bytes but the payload has {}".format(where, end, length))
    directories = {p.rsplit("/", n)[0] for p in members for n in range(1, p.count("/") + 1)}
    clash = directories & members.keys()
    if clash:
        raise hostile("{}: {!r} is both a file and a directory".format(where, sorted(clash)[0]))
    return members, directories


#: One file in an archive: where its bytes are in the payload and what they hash to.
Member = namedtuple("Member", "path offset size sha256 mode")
Member.as_dict = lambda self: dict(self._asdict())  # type: ignore[attr-defined]


class Archive:
    """A pixel archive's members over its payload.

    ``verified=False`` (the shim, reading a cached payload) checks each member's
    sha256 the first time it is read; pxos-cartridge's ``open_archive`` checks
    them all up front and passes ``verified=True``.
    """

    def __init__(self, path, metadata, payload, members=None, directories=None, verified=False, integrity=BootError):
        self.path = str(path)
        self.metadata = metadata
        if members is None:
            members, directories = check_members(metadata, len(payload), self.path)
        self.members = members
        self._dirs = directories
        self._payload = memoryview(payload)
        self._checked = set(members) if verified else set()
        self._integrity = integrity

    @property
    def manifest(self):
        """The cartridge manifest stored at pack time (``{}`` when there was none)."""
        return dict(self.metadata.get("cartridge") or {})

    def names(self):
        return list(self.members)

    def read(self, path):
        """The bytes of member ``path``, checked against its sha256."""
        member = self.members.get(path)
        if member is None:
            raise FileNotFoundError("{}: no member {!r}".format(self.path, path))
        data = self._payload[member.offset:member.offset + member.size].tobytes()
        if path not in self._checked:
            if hashlib.sha256(data).hexdigest() != member.sha256:
                raise self._integrity("{}: member {!r} does not match its sha256 (the archive or its cached "
                                      "payload was damaged or tampered with)".format(self.path, path))
            self._checked.add(path)
        return data

    def is_dir(self, path):
        """Whether ``path`` is a directory implied by the members ("" is the root)."""
        return path == "" or path.strip("/") in self._dirs

    def extract(self, dest, prefix=""):
        """Write every member (below ``prefix``) under ``dest``, with its mode; return ``dest``."""
        for member in self.members.values():
            if not member.path.startswith(prefix):
                continue
            target = os.path.join(dest, *member.path[len(prefix):].split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                out.write(self.read(member.path))
            os.chmod(target, member.mode & 0o777)
        return dest

    def __repr__(self):
        return "<Archive {} members={}>".format(self.path, len(self.members))


def load_system(path, expected_sha256, home):
    """Read, check and open the archive at ``path``; nothing in it has run yet."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise BootError("{}: cannot read it ({})".format(path, exc.strerror))
    meta, idat = read_png(data, path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise BootError("{}: its sha256 {} does not match the registered {}: the archive was modified or damaged "
                        "after registration; nothing from it was run".format(path, digest[:16], expected_sha256[:16]))
    cache = os.path.join(home, "cache", "payloads", digest[:2], digest)
    payload = _cached_payload(cache, meta["length"])
    if payload is None:
        payload = inflate_payload(meta, idat, path)
        _write_atomically(cache, payload)
    return Archive(path, meta, payload)


def _cached_payload(path, length):
    try:
        with open(path, "rb") as stream:
            if os.fstat(stream.fileno()).st_size != length:
                return None
            import mmap

            return mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) if length else b""
    except (OSError, ValueError):
        return None


def _write_atomically(path, data):
    """Best effort: a cache that cannot be written is only slower."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = "{}.{}.tmp".format(path, os.getpid())
        with open(temporary, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError:
        pass


# -- importing from the archive ----------------------------------------------------------------


class ArchiveLoader:
    """Loads the modules of one archive; shared by every module its finder finds."""

    def __init__(self, finder):
        self.finder = finder
        self.archive = finder.archive

    def _entry(self, fullname):
        try:
            return self.finder.index[fullname]
        except KeyError:
            raise ImportError("{!r} is not in archive {}".format(fullname, self.archive.path), name=fullname)

    def is_package(self, fullname):
        return self._entry(fullname)[1]

    def get_filename(self, fullname):
        member = self._entry(fullname)[0]
        if member is None:
            raise ImportError("{!r} is an implicit package with no file".format(fullname), name=fullname)
        return "{}/{}".format(self.archive.path, member)

    def get_source(self, fullname):
        from importlib.util import decode_source

        member = self._entry(fullname)[0]
        return "" if member is None else decode_source(self.archive.read(member))

    def get_code(self, fullname):
        member = self._entry(fullname)[0]
        if member is None:
            return compile("", "<implicit package {}>".format(fullname), "exec", dont_inherit=True)
        return self.finder.code(member, self.get_filename(fullname))

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__spec__.name
        code = self.get_code(name)
        if self.finder.index[name][0] is not None:
            import linecache  # a lazy entry: the source is read only if a traceback asks for it

            linecache.cache[code.co_filename] = (lambda: self.get_source(name),)
        exec(code, module.__dict__)

    def get_data(self, path):
        """The bytes of ``<archive>/<member>`` (what ``pkgutil.get_data`` asks a loader for)."""
        prefix = self.archive.path + "/"
        member = path[len(prefix):] if path.startswith(prefix) else None
        if member not in self.archive.members:
            raise FileNotFoundError("{}: no such member in the archive".format(path))
        return self.archive.read(member)

    def get_resource_reader(self, fullname):
        member, is_package = self._entry(fullname)
        if not is_package:
            return None
        directory = self.finder.root + fullname.replace(".", "/") if member is None else member.rpartition("/")[0]
        return ArchiveResources(ArchivePath(self.archive, directory))


class ArchiveFinder:
    """Finds modules, distributions and native extensions in one archive, for ``sys.meta_path``.

    ``root`` is the member prefix modules are imported from ("" for a cartridge,
    ``site-packages/`` for a system cartridge). ``code_cache`` is a directory for
    compiled code (None: compile every time).
    """

    def __init__(self, archive, root="", code_cache=None, native_cache=None, system=None, exclusive=False):
        self.archive = archive
        self.root = root
        self.code_cache = code_cache
        self.native_cache = native_cache
        self.system = system  # the boot record, when this archive is the running pxOS system
        self.exclusive = exclusive  # pxOS plugins come from this archive only
        self.index = _index(archive, root)
        self.loader = ArchiveLoader(self)
        self.native = {}  # top-level module name -> native bundle record
        for bundle in (archive.metadata.get("system") or {}).get("native", {}).get("bundles", []):
            for name in bundle["top_level"]:
                self.native[name] = bundle

    def find_spec(self, fullname, path=None, target=None):
        entry = self.index.get(fullname)
        if entry is None:
            top = fullname.partition(".")[0]
            if top in self.native and fullname == top:
                return self._native_spec(fullname)
            return None
        from importlib.machinery import ModuleSpec

        member, is_package = entry
        spec = ModuleSpec(fullname, self.loader, origin=None if member is None else
                          "{}/{}".format(self.archive.path, member), is_package=is_package)
        spec.has_location = member is not None
        if is_package:
            spec.submodule_search_locations = ["{}/{}{}".format(self.archive.path, self.root,
                                                                fullname.replace(".", "/"))]
        return spec

    def invalidate_caches(self):
        """Nothing to do: an archive never changes once opened."""

    def modules(self):
        """Every module name this archive provides."""
        return sorted(self.index)

    # compiled code, cached by interpreter and member content

    def code(self, member, filename):
        source = self.archive.read(member)
        if self.code_cache is None:
            return compile(source, filename, "exec", dont_inherit=True)
        import marshal
        from importlib.util import MAGIC_NUMBER

        key = hashlib.sha256(MAGIC_NUMBER + self.archive.members[member].sha256.encode() + filename.encode())
        path = os.path.join(self.code_cache, key.hexdigest()[:2], key.hexdigest())
        try:
            with open(path, "rb") as stream:
                blob = stream.read()
            if hashlib.sha256(blob[32:]).digest() == blob[:32]:
                return marshal.loads(blob[32:])
        except (OSError, ValueError, EOFError, TypeError):
            pass
        code = compile(source, filename, "exec", dont_inherit=True)
        data = marshal.dumps(code)
        _write_atomically(path, hashlib.sha256(data).digest() + data)
        return code

    # importlib.metadata

    def distribution_dirs(self):
        """Member directories ``<root><name>-<version>.dist-info`` of the distributions in the archive."""
        return sorted({p[len(self.root):].split("/", 1)[0] for p in self.archive.members
                       if p.startswith(self.root) and p[len(self.root):].split("/", 1)[0].endswith(".dist-info")})

    def pxos_distributions(self):
        """``(dist-info directory name, read(file name) -> text or None)`` of each distribution: the kernel
        finds entry points through this without importing importlib.metadata."""
        for directory in self.distribution_dirs():
            yield directory, _reader(self.archive, self.root + directory + "/")

    def find_distributions(self, context=None):
        """What ``importlib.metadata`` asks of a finder: the archive's distributions (named ``context.name``)."""
        wanted = getattr(context, "name", None)
        cls = _distribution_class()
        for directory in self.distribution_dirs():
            name = directory.rpartition("-")[0]
            if wanted is None or _normal(name) == _normal(wanted):
                yield cls(self.archive, self.root, directory)

    # native extensions

    def _native_spec(self, fullname):
        directory = extract_native(self.archive, self.native[fullname], self.native_cache)
        from importlib.machinery import PathFinder

        if directory not in sys.path:
            sys.path.append(directory)
        return PathFinder.find_spec(fullname, [directory])

    def __repr__(self):
        return "<ArchiveFinder {} root={!r}>".format(self.archive.path, self.root)


def _index(archive, root):
    """Every importable module name below ``root``: (member path or None for a directory, is_package)."""
    index = {}
    for path in archive.members:
        if not path.startswith(root) or not path.endswith(".py"):
            continue
        parts = path[len(root):-3].split("/")
        if not all(part.isidentifier() for part in parts):
            continue
        if parts[-1] == "__init__":
            if len(parts) > 1:
                index[".".join(parts[:-1])] = (path, True)
        else:
            index.setdefault(".".join(parts), (path, False))
        for depth in range(1, len(parts) - (parts[-1] == "__init__")):
            index.setdefault(".".join(parts[:depth]), (None, True))
    return index


def _normal(name):
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _reader(archive, prefix):
    def read(name):
        path = prefix + name
        return archive.read(path).decode("utf-8") if path in archive.members else None
    return read


_DISTRIBUTION = []  # type: list


def _distribution_class():
    """``importlib.metadata.Distribution`` over an archive, defined when importlib.metadata is first used."""
    if not _DISTRIBUTION:
        import importlib.metadata

        class ArchiveDistribution(importlib.metadata.Distribution):
            def __init__(self, archive, root, directory):
                self._archive, self._root, self._directory = archive, root, directory
                self._read = _reader(archive, root + directory + "/")

            def read_text(self, filename):
                return self._read(filename)

            def locate_file(self, path):
                return ArchivePath(self._archive, self._root + str(path))

        _DISTRIBUTION.append(ArchiveDistribution)
    return _DISTRIBUTION[0]


# -- importlib.resources -----------------------------------------------------------------------


class ArchivePath:
    """A file or directory inside an archive: an ``importlib.resources`` Traversable (like ``zipfile.Path``)."""

    def __init__(self, archive, at=""):
        self.archive = archive
        self.at = at.strip("/")

    @property
    def name(self):
        return self.at.rsplit("/", 1)[-1]

    @property
    def parent(self):
        return ArchivePath(self.archive, self.at.rpartition("/")[0])

    def is_dir(self):
        return self.archive.is_dir(self.at)

    def is_file(self):
        return self.at in self.archive.members

    def exists(self):
        return self.is_file() or self.is_dir()

    def iterdir(self):
        if not self.is_dir():
            raise NotADirectoryError("{}: not a directory in the archive".format(self))
        prefix = self.at + "/" if self.at else ""
        children = {path[len(prefix):].split("/", 1)[0] for path in self.archive.members if path.startswith(prefix)}
        return iter([ArchivePath(self.archive, prefix + child) for child in sorted(children)])

    def joinpath(self, *descendants):
        parts = [self.at] if self.at else []
        for descendant in descendants:
            parts.extend(p for p in str(descendant).split("/") if p)
        return ArchivePath(self.archive, "/".join(parts))

    def __truediv__(self, child):
        return self.joinpath(child)

    def open(self, mode="r", *args, **kwargs):
        import io

        if mode not in ("r", "rb"):
            raise ValueError("{}: archives are read-only (mode {!r})".format(self, mode))
        stream = io.BytesIO(self.read_bytes())
        return stream if mode == "rb" else io.TextIOWrapper(stream, *args, **kwargs)

    def read_bytes(self):
        if not self.is_file():
            raise FileNotFoundError("{}: no such file in the archive".format(self))
        return self.archive.read(self.at)

    def read_text(self, encoding=None, errors=None):
        return self.read_bytes().decode(encoding or "utf-8", errors or "strict")

    def __eq__(self, other):
        return isinstance(other, ArchivePath) and (other.archive, other.at) == (self.archive, self.at)

    def __hash__(self):
        return hash((id(self.archive), self.at))

    def __str__(self):
        return "{}/{}".format(self.archive.path, self.at) if self.at else self.archive.path

    def __repr__(self):
        return "ArchivePath({!r})".format(str(self))


class ArchiveResources:
    """The resource reader of one package inside an archive (``files()`` is all importlib.resources needs)."""

    def __init__(self, root):
        self._root = root

    def files(self):
        return self._root

    # The older ResourceReader methods, answered from the same tree.
    def open_resource(self, resource):
        return self._root.joinpath(resource).open("rb")

    def resource_path(self, resource):
        raise FileNotFoundError(resource)

    def is_resource(self, path):
        return self._root.joinpath(path).is_file()

    def contents(self):
        return (item.name for item in self._root.iterdir())


# -- native extensions -------------------------------------------------------------------------


def native_tag():
    """What decides whether a native bundle loads here: the interpreter's extension-module suffix."""
    from importlib.machinery import EXTENSION_SUFFIXES

    return EXTENSION_SUFFIXES[0]


def extract_native(archive, bundle, cache):
    """The directory holding ``bundle``'s files, extracted and verified under ``cache`` (first use only)."""
    if bundle["tag"] != native_tag():
        raise ImportError("the native bundle {} {} in {} was built for {} and cannot load into this interpreter "
                          "({}): pack the system with 'world pack --native' on this platform".format(
                              bundle["name"], bundle["version"], archive.path, bundle["tag"], native_tag()))
    if cache is None:
        raise ImportError("native bundle {} needs a writable cache directory (PXOS_HOME/cache/native)".format(
            bundle["name"]))
    directory = os.path.join(cache, bundle["tag"].strip("."), bundle["sha256"])
    prefix = bundle["prefix"]
    members = [m for m in archive.members.values() if m.path.startswith(prefix)]
    if not _native_intact(directory, prefix, members):
        staging = "{}.{}.tmp".format(directory, os.getpid())
        archive.extract(staging, prefix)  # every member is checked against its sha256 as it is read
        if os.path.isdir(directory):
            import shutil

            shutil.rmtree(directory)
        os.makedirs(os.path.dirname(directory), exist_ok=True)
        os.replace(staging, directory)
        if not _native_intact(directory, prefix, members):
            raise ImportError("native bundle {} did not extract intact into {}".format(bundle["name"], directory))
    return directory


def _native_intact(directory, prefix, members):
    """Every file of the bundle is there with its sha256 (checked on each first import in a process)."""
    for member in members:
        target = os.path.join(directory, *member.path[len(prefix):].split("/"))
        try:
            with open(target, "rb") as stream:
                if hashlib.sha256(stream.read()).hexdigest() != member.sha256:
                    return False
        except OSError:
            return False
    return True


# -- booting -----------------------------------------------------------------------------------


def isolate_from_host(keep_site=False):
    """Take everything that is not the standard library off the import system (``keep_site``: leave
    site-packages on ``sys.path`` after the archive, for test tools only)."""
    stdlib = os.path.dirname(os.__file__)
    allowed = {stdlib, os.path.join(stdlib, "lib-dynload"),
               os.path.join(os.path.dirname(stdlib), "python{}{}.zip".format(*sys.version_info[:2]))}
    if not keep_site:
        sys.path[:] = [p for p in sys.path if p and os.path.normpath(p) in allowed]
        sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "__module__", "").startswith("_frozen_importlib")]
        sys.path_hooks[:] = [h for h in sys.path_hooks if getattr(h, "__module__", "").startswith(
            ("_frozen_importlib", "zipimport"))]
        for name, module in list(sys.modules.items()):
            where = getattr(module, "__file__", None)
            inside = where and (os.path.normpath(where) + os.sep).startswith(stdlib + os.sep)
            if where and not inside and name != "__main__":
                del sys.modules[name]  # left over from site's .pth files (editable installs)
    sys.path_importer_cache.clear()


def boot(path, sha256, home, record, keep_site=False):
    """Open the system at ``path`` and make it the first place imports come from; return its finder."""
    archive = load_system(path, sha256, home)
    system = archive.metadata.get("system")
    if not isinstance(system, dict):
        raise BootError("{}: a pixel archive, but not a system cartridge (no system metadata)".format(path))
    needs = tuple(system.get("python", {}).get("requires_min", MIN_PYTHON))
    if sys.version_info[:2] < needs:
        raise BootError("this system cartridge needs Python {}.{} or later; this is Python {}".format(
            needs[0], needs[1], sys.version.split()[0]))
    isolate_from_host(keep_site)
    sys.excepthook = _print_exception
    missing = {top: {"name": m["name"], "reason": m["reason"]} for m in system.get("missing", [])
               for top in m.get("top_level") or [m["name"]]}
    record = dict(record, archive=path, sha256=sha256, shim=os.path.abspath(__file__), home=home, missing=missing)
    finder = ArchiveFinder(archive, SITE, code_cache=os.path.join(home, "cache", "bytecode"),
                           native_cache=os.path.join(home, "cache", "native"), system=record, exclusive=True)
    sys.meta_path.insert(0, finder)
    return finder


def _print_exception(kind, value, tb):
    """Tracebacks through the traceback module, which reads archived source lines from linecache."""
    import traceback

    traceback.print_exception(kind, value, tb)


USAGE = ("usage: python3 -I pxos.py [--world NAME@VERSION | --world FILE.pxa [--sha256 HEX]] [--test-run] "
         "[-m MODULE] COMMAND ...")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    options = {"--world": None, "--sha256": None}
    module, test_run = None, False
    while argv and argv[0] in ("--world", "--sha256", "-m", "--test-run"):
        flag = argv.pop(0)
        if flag == "--test-run":
            test_run = True
            continue
        if not argv:
            print("pxos.py: error: {} needs a value\n{}".format(flag, USAGE), file=sys.stderr)
            return 2
        if flag == "-m":
            module = argv.pop(0)
            break
        options[flag] = argv.pop(0)
    if sys.version_info[:2] < MIN_PYTHON:
        print("pxos.py: error: pxOS needs Python {}.{} or later; this is Python {}".format(
            MIN_PYTHON[0], MIN_PYTHON[1], sys.version.split()[0]), file=sys.stderr)
        return 2
    home = home_dir()
    try:
        path, sha256, record = choose_system(home, options["--world"], options["--sha256"])
        if test_run:  # world test: the run is sandboxed as a whole, and its tests exercise the system as current
            record = dict(record, current=True, test_run=True)
        boot(path, sha256, home, record, keep_site=test_run)
    except BootError as exc:
        print("pxos.py: error: {}".format(exc), file=sys.stderr)
        return 1
    if module is not None:
        import runpy

        sys.argv = [module] + argv
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    import runpy

    sys.argv = ["pxos-kernel"] + argv  # the kernel's CLI, as ``python -m pxos_kernel`` runs it
    runpy.run_module("pxos_kernel", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
