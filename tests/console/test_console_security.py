"""The console refuses what it must, with a clear message, and writes nothing: sign-in failures and their
rate limit, forged CSRF tokens, a role without the permission, oversize and non-CSV uploads."""

from fastapi.testclient import TestClient
from sqlmodel import func, select

from connector.console.import_pages import MAX_UPLOAD
from connector.services.context import AppContext
from connector.store.engine import unit_of_work
from connector.store.http_tables import AdminAuditRow
from connector.store.tables import ContactRow, ObjectionRow

from .conftest import csrf_of, sign_in


def count(ctx: AppContext, table: type) -> int:
    with unit_of_work(ctx.engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_pages_need_a_signed_in_user(app_client: TestClient) -> None:
    answer = app_client.get("/console", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login"


def test_sign_in_sets_a_strict_http_only_cookie_and_a_strict_csp(app_client: TestClient) -> None:
    assert sign_in(app_client, "viewer") == 303
    page = app_client.get("/console")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src" not in csp
    assert "default-src 'none'" in csp
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "<script" not in page.text


def test_a_wrong_password_is_refused_and_attempts_are_limited(app_client: TestClient) -> None:
    assert sign_in(app_client, "viewer", "wrong password!!") == 401
    statuses = [sign_in(app_client, "viewer", "wrong password!!") for _ in range(10)]
    assert statuses[-1] == 429
    assert sign_in(app_client, "viewer") == 429  # over the limit even with the right password


def test_a_forged_csrf_token_changes_nothing(app_client: TestClient, console_ctx: AppContext) -> None:
    from tests.sync.support import subscribe

    subscribe(console_ctx, "ola@example.no")
    assert sign_in(app_client, "privacy") == 303
    before = count(console_ctx, ObjectionRow)
    answer = app_client.post("/console/contact/object", data={"email": "ola@example.no", "csrf": "forged"})
    assert answer.status_code == 403
    assert "security token" in answer.text
    assert count(console_ctx, ObjectionRow) == before


def test_a_viewer_cannot_resync_and_a_marketer_cannot_erase(
    app_client: TestClient, console_ctx: AppContext
) -> None:
    from tests.sync.support import subscribe

    subscribe(console_ctx, "ola@example.no")
    assert sign_in(app_client, "viewer") == 303
    token = csrf_of(app_client.get("/console/contact?q=ola@example.no").text)
    refused = app_client.post("/console/contact/resync", data={"email": "ola@example.no", "csrf": token})
    assert refused.status_code == 403
    assert "may not" in refused.text
    assert sign_in(app_client, "marketer") == 303
    token = csrf_of(app_client.get("/console/contact?q=ola@example.no").text)
    data = {"email": "ola@example.no", "confirm": "ola@example.no", "csrf": token}
    refused = app_client.post("/console/contact/erase", data=data)
    assert refused.status_code == 403
    assert count(console_ctx, ContactRow) == 1


def test_erasure_needs_the_typed_address_and_is_audited(
    app_client: TestClient, console_ctx: AppContext
) -> None:
    from tests.sync.support import subscribe

    subscribe(console_ctx, "ola@example.no")
    assert sign_in(app_client, "privacy") == 303
    token = csrf_of(app_client.get("/console/contact?q=ola@example.no").text)
    wrong = app_client.post(
        "/console/contact/erase", data={"email": "ola@example.no", "confirm": "ola", "csrf": token}
    )
    assert wrong.status_code == 422
    assert "address exactly to erase; nothing was erased" in wrong.text
    done = app_client.post(
        "/console/contact/erase", data={"email": "ola@example.no", "confirm": "ola@example.no", "csrf": token}
    )
    assert done.status_code == 200
    with unit_of_work(console_ctx.engine) as session:
        actors = session.exec(select(AdminAuditRow.actor)).all()
    assert "console:privacy" in actors


def test_oversize_and_non_csv_uploads_are_refused(app_client: TestClient, console_ctx: AppContext) -> None:
    assert sign_in(app_client, "marketer") == 303
    token = csrf_of(app_client.get("/console/imports").text)
    big = app_client.post(
        "/console/imports/upload",
        data={"csrf": token},
        files={"file": ("big.csv", b"email\n" + b"a@example.no\n" * (MAX_UPLOAD // 12 + 10), "text/csv")},
    )
    assert big.status_code == 413
    assert "larger than" in big.text
    pdf = app_client.post(
        "/console/imports/upload",
        data={"csrf": token},
        files={"file": ("list.pdf", b"%PDF-1.7 binary", "application/pdf")},
    )
    assert pdf.status_code == 422
    assert "not a CSV file" in pdf.text
    assert count(console_ctx, ContactRow) == 0
