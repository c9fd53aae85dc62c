"""Where uploaded files live: a small interface (`Storage`) and its local-filesystem kind
under UPLOAD_DIR. Nothing here is ever served publicly; staff download a file through the
API, which checks who asks first.

Keys are ours (`new_key`: the business id and a random id), never made from what a caller
sent; a key that is not of that shape, or would land outside the root, is refused anyway.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path
from typing import Protocol

from core.settings import Settings

# "<business id>/<32 hex digits>": two plain segments, nothing that could climb out.
_KEY = re.compile(r"^[0-9a-f-]{36}/[0-9a-f]{32}$")


class StorageKeyError(ValueError):
    """A key we did not make (or one that would escape the storage root)."""


class Storage(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def read(self, key: str) -> bytes:
        """The file's bytes; FileNotFoundError when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the file; a missing one is not an error."""
        ...


def new_key(business_id: uuid.UUID) -> str:
    """A fresh key for one of the business's files."""
    return f"{business_id}/{uuid.uuid4().hex}"


class LocalStorage:
    """Files under one directory, one sub-directory per business, readable by us alone."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise StorageKeyError(f"not a storage key: {key[:80]!r}")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise StorageKeyError(f"key leaves the storage root: {key[:80]!r}")
        return path

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written beside its final name and renamed: a reader never sees half a file.
        partial = path.with_name(f".{path.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


def storage_from_settings(settings: Settings) -> Storage:
    return LocalStorage(settings.UPLOAD_DIR)
