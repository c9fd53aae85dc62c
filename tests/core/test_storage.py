"""The local file storage: what is put is read back, keys are ours alone."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from core.storage import LocalStorage, StorageKeyError, new_key


async def test_put_read_delete(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = new_key(uuid.uuid4())

    await storage.put(key, b"%PDF-1.4 data")

    assert await storage.read(key) == b"%PDF-1.4 data"
    [path] = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert path.stat().st_mode & 0o077 == 0
    await storage.delete(key)
    await storage.delete(key)  # gone already: not an error
    with pytest.raises(FileNotFoundError):
        await storage.read(key)


@pytest.mark.parametrize(
    "key",
    [
        "../outside",
        f"{uuid.uuid4()}/../../etc",
        "/etc/passwd",
        f"{uuid.uuid4()}/{uuid.uuid4().hex}/extra",
        f"{uuid.uuid4()}/" + "..".ljust(32, "0"),
        "",
    ],
)
async def test_keys_we_did_not_make_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "root")
    for call in (storage.put(key, b"x"), storage.read(key), storage.delete(key)):
        with pytest.raises(StorageKeyError):
            await call
    assert not (tmp_path / "outside").exists()
