"""What a client may attach to "done": the form read into a note and files, checked against
the limits (DONE_UPLOAD_MAX_FILES, DONE_UPLOAD_MAX_FILE_BYTES), the allowed kinds (by the
name's extension, and for binary kinds by the file's first bytes too) and a safe name.
Each refusal is an error carrying its status and a sentence for the client."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from starlette.datastructures import FormData, UploadFile

from api.errors import AppError, PayloadTooLarge, Unprocessable
from core.settings import Settings

NOTE_MAX_CHARS = 2000
FILENAME_MAX_CHARS = 255

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the older Word and Excel formats
# extension -> (the content type we store and serve, the bytes it must start with;
# None: a text kind, refused only when it holds NUL bytes).
KINDS: dict[str, tuple[str, bytes | None]] = {
    ".pdf": ("application/pdf", b"%PDF-"),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    ".txt": ("text/plain", None),
    ".csv": ("text/csv", None),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ZIP,
    ),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    ".doc": ("application/msword", _OLE2),
    ".xls": ("application/vnd.ms-excel", _OLE2),
}
ALLOWED_NAMES = "PDF, PNG, JPEG, TXT, CSV, Word (DOC, DOCX) or Excel (XLS, XLSX)"


class UnsupportedFile(AppError):
    status_code = 415
    default_detail = "That kind of file is not accepted"


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Submission:
    note: str | None
    files: list[Upload]


def safe_filename(raw: str) -> str:
    """The name's last path segment without control characters, at most 255 characters
    (the extension kept); never empty, never a dot-file."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = unicodedata.normalize("NFC", base).strip().lstrip(".").strip()
    if not base:
        return "document"
    if len(base) > FILENAME_MAX_CHARS:
        suffix = PurePath(base).suffix[:20]
        base = base[: FILENAME_MAX_CHARS - len(suffix)] + suffix
    return base


def check_file(filename: str, data: bytes, max_bytes: int) -> Upload:
    """The file as we keep it, or the reason it is refused."""
    name = safe_filename(filename)
    if not data:
        raise Unprocessable(f"{name} is empty.")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{name} is larger than {max_bytes // (1024 * 1024) or 1} MB.")
    kind = KINDS.get(PurePath(name).suffix.lower())
    if kind is None:
        raise UnsupportedFile(f"{name}: only {ALLOWED_NAMES} files are accepted.")
    content_type, magic = kind
    if (magic is not None and not data.startswith(magic)) or (magic is None and b"\0" in data):
        raise UnsupportedFile(f"{name} is not the kind of file its name says.")
    return Upload(filename=name, content_type=content_type, data=data)


def typed_note(form: FormData) -> str:
    """The note as sent (to show again on the form when something is refused)."""
    value = form.get("note")
    return value if isinstance(value, str) else ""


def _note(form: FormData) -> str | None:
    note = typed_note(form).replace("\r\n", "\n").strip()
    if len(note) > NOTE_MAX_CHARS:
        raise Unprocessable(f"The note is longer than {NOTE_MAX_CHARS} characters.")
    return note or None


async def read_submission(form: FormData, settings: Settings) -> Submission:
    """The note and files of the page's form, all checked before anything is kept."""
    max_files = settings.DONE_UPLOAD_MAX_FILES
    max_bytes = settings.DONE_UPLOAD_MAX_FILE_BYTES
    # A browser sends an empty, nameless part for a file input left empty: not a file.
    parts = [
        part
        for part in form.getlist("files")
        if isinstance(part, UploadFile) and (part.filename or part.size)
    ]
    if len(parts) > max_files:
        raise Unprocessable(f"At most {max_files} files can be sent at once.")
    note = _note(form)
    files = []
    for part in parts:
        data = await part.read(max_bytes + 1)
        files.append(check_file(part.filename or "", data, max_bytes))
    return Submission(note=note, files=files)
