"""What a client may attach to "done": refused files get the form again with a clear
message and the right status, and nothing of the submission is kept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.done.uploads import check_file, safe_filename
from api.errors import AppError
from core.settings import Settings
from tests.api.done.links import PDF, PNG, link_path, pdf, reminder_for_a_client, stored_files
from tests.conftest import Tenant, app_client, count_rows, settings_changed

ZIP = b"PK\x03\x04" + b"\x00" * 40
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40


@pytest.mark.parametrize(
    ("files", "note", "status", "message"),
    [
        ([pdf(f"{n}.pdf") for n in range(6)], "", 422, "At most 5 files"),
        ([pdf(data=PDF + b"x" * 4096)], "", 413, "receipt.pdf is larger than 1 MB"),
        ([("files", ("setup.exe", b"MZ\x90\x00", "application/pdf"))], "", 415, "only PDF"),
        ([pdf("fake.pdf", b"<html>not a pdf</html>")], "", 415, "fake.pdf is not the kind"),
        ([("files", ("photo.png", PDF, "image/png"))], "", 415, "photo.png is not the kind"),
        ([pdf("empty.pdf", b"")], "", 422, "empty.pdf is empty"),
        ([], "x" * 2001, 422, "longer than 2000 characters"),
    ],
    ids=["too-many", "too-large", "wrong-type", "not-a-pdf", "not-a-png", "empty", "long-note"],
)
async def test_refused_uploads_show_the_form_again_and_keep_nothing(
    client: httpx.AsyncClient,
    app: Any,
    owner: Tenant,
    files: list[Any],
    note: str,
    status: int,
    message: str,
) -> None:
    reminder_id, client_id = await reminder_for_a_client(client, app, owner)
    with settings_changed(app, DONE_UPLOAD_MAX_FILE_BYTES=4096) as settings:
        before = stored_files(settings)
        response = await client.post(
            link_path(settings, reminder_id, client_id),
            data={"note": note or "my note"},
            files=files or [pdf()],
        )

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text
    assert 'role="alert"' in response.text
    assert "<form" in response.text
    assert ("my note" if not note else "x" * 2000) in response.text
    assert stored_files(settings) == before
    assert await count_rows(app, "client_progress") == 0
    assert await count_rows(app, "client_documents") == 0


async def test_a_body_that_is_not_a_form_gets_a_400_page(
    client: httpx.AsyncClient, app: Any, owner: Tenant, settings: Settings
) -> None:
    reminder_id, client_id = await reminder_for_a_client(client, app, owner)

    response = await client.post(
        link_path(settings, reminder_id, client_id),
        content=b"--x\r\nbroken",
        headers={"content-type": "multipart/form-data"},  # no boundary
    )

    assert response.status_code == 400
    assert "could not be read" in response.text
    assert await count_rows(app, "client_progress") == 0


async def test_the_done_path_takes_bodies_larger_than_the_general_cap(
    settings: Settings, owner: Tenant
) -> None:
    small = settings.model_copy(
        update={
            "MAX_REQUEST_BODY_BYTES": 2048,
            "DONE_UPLOAD_MAX_FILES": 2,
            "DONE_UPLOAD_MAX_FILE_BYTES": 8192,
        }
    )
    async with app_client(small) as http:
        reminder_id, client_id = await reminder_for_a_client(http, http.app, owner)  # type: ignore[attr-defined]
        path = link_path(small, reminder_id, client_id)
        # Over the general cap, under the done path's: the page reads it (and refuses
        # nothing here but the 503 of a Temporal that is not there).
        fits = await http.post(path, files=[pdf(data=PDF + b"x" * 6000)])
        # Over every file's limit together: refused before it is read.
        too_big = await http.post(path, files=[pdf(data=PDF + b"x" * 50_000)] * 2)
        elsewhere = await http.post(
            "/api/v1/clients", headers=owner.headers, content=b"{" + b" " * 4000 + b"}"
        )

    assert fits.status_code == 503, fits.text
    assert too_big.status_code == 413
    assert "Request body larger than" in too_big.text
    assert elsewhere.status_code == 413


def test_file_names_are_kept_as_a_safe_basename() -> None:
    assert safe_filename("../../etc/passwd.pdf") == "passwd.pdf"
    assert safe_filename("C:\\Users\\me\\Tax return.pdf") == "Tax return.pdf"
    assert safe_filename("bad\x00name\x1b[31m\u202e.pdf") == "badname[31m.pdf"
    assert safe_filename("...hidden.pdf") == "hidden.pdf"
    assert safe_filename("/") == "document"
    long = safe_filename("a" * 400 + ".pdf")
    assert len(long) == 255
    assert long.endswith(".pdf")


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("a.pdf", PDF, "application/pdf"),
        ("a.PNG", PNG, "image/png"),
        ("a.jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 10, "image/jpeg"),
        ("a.txt", "héllo".encode(), "text/plain"),
        ("a.csv", b"a,b\n1,2\n", "text/csv"),
        ("a.docx", ZIP, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("a.xlsx", ZIP, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("a.doc", OLE2, "application/msword"),
        ("a.xls", OLE2, "application/vnd.ms-excel"),
    ],
)
def test_allowed_kinds_are_kept_with_our_content_type(
    name: str, data: bytes, content_type: str
) -> None:
    assert check_file(name, data, 1024).content_type == content_type


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a.docx", PDF),
        ("a.xls", ZIP),
        ("a.txt", b"text\x00with a NUL"),
        ("a.html", b"<html>"),
        ("a.pdf.exe", PDF),
        ("noextension", PDF),
    ],
)
def test_a_name_that_does_not_match_the_content_is_refused(name: str, data: bytes) -> None:
    with pytest.raises(AppError) as refused:
        check_file(name, data, 1024)
    assert refused.value.status_code == 415
