"""Storage keys: ``/``-separated relative paths, checked before they touch the file system."""

from __future__ import annotations

from pxos_kernel import StorageError


def check_key(scheme: str, key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise StorageError saying why.

    A key is one or more ``/``-separated parts; no part is empty, ``.``/``..``,
    starts with a dot (temporary files start with one) or holds a backslash or NUL.
    """
    if not isinstance(key, str) or not key:
        raise StorageError(f"{scheme}://{key}: an object key must be a non-empty path such as dir/name")
    for part in key.split("/"):
        if not part or part.startswith(".") or "\\" in part or "\x00" in part:
            raise StorageError(f"{scheme}://{key}: invalid key part {part!r} "
                               "(parts must be non-empty, not start with '.', and hold no backslash or NUL)")
    return key
