"""One-click unsubscribe (RFC 8058) and preferences, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from web_support import add_subscriber, db, project, secrets, sqlite_engine, subscriber, token

from newsletter.personalization import recipient_values
from newsletter.web import create_app

__all__ = ["db"]
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def client(tmp_path: Path, db: sa.Engine) -> TestClient:
    return TestClient(
        create_app(project(tmp_path), secrets(), engine=db), base_url="https://almanac.example"
    )


def test_get_never_unsubscribes(client: TestClient, db: sa.Engine) -> None:
    sid = add_subscriber(db, "ada@example.com")
    res = client.get(f"/unsubscribe?t={token(sid, 'ada@example.com')}")
    assert res.status_code == 200
    assert 'method="post"' in res.text and 'name="List-Unsubscribe" value="One-Click"' in res.text
    assert "a•••@example.com" in res.text and "ada@example.com" not in res.text
    assert res.headers["cache-control"] == "no-store"
    assert subscriber(db, sid)["status"] == "active"


def test_one_click_post_unsubscribes_idempotently(client: TestClient, db: sa.Engine) -> None:
    sid = add_subscriber(db, "ada@example.com")
    other = add_subscriber(db, "bob@example.com")
    url = f"/unsubscribe?t={token(sid, 'ada@example.com')}"
    res = client.post(url, data=ONE_CLICK)  # no cookies, no CSRF token: the URL's token decides
    assert res.status_code == 200 and "unsubscribed" in res.text
    row = subscriber(db, sid)
    assert row["status"] == "unsubscribed" and row["unsubscribed_at"] is not None
    assert client.post(url, data=ONE_CLICK).status_code == 200
    assert subscriber(db, sid)["unsubscribed_at"] == row["unsubscribed_at"]
    assert subscriber(db, other)["status"] == "active"
    assert "not subscribed" in client.get(url).text


def test_link_from_personalization_works(client: TestClient, db: sa.Engine) -> None:
    sid = add_subscriber(db, "Mixed@Example.com")
    values = recipient_values(
        b"test-secret-key-0123456789", "https://almanac.example", sid, "mixed@example.com", None
    )
    path = values["%unsubscribe_url%"].removeprefix("https://almanac.example")
    assert client.post(path, data=ONE_CLICK).status_code == 200
    assert subscriber(db, sid)["status"] == "unsubscribed"


@pytest.mark.parametrize(
    "make",
    [
        lambda sid: token(sid, "ada@example.com", key="another-key"),  # forged
        lambda sid: token(sid, "ada@example.com")[:-2] + "AA",  # altered signature
        lambda sid: f"{sid + 1}." + token(sid, "ada@example.com").split(".")[1],  # altered id
        lambda sid: token(999999, "ada@example.com"),  # unknown subscriber
        lambda sid: "not-a-token",
        lambda sid: "",
        lambda sid: "1." + "A" * 190,
    ],
    ids=["forged", "altered-sig", "altered-id", "unknown", "malformed", "empty", "long"],
)
def test_bad_tokens_get_400_and_change_nothing(client: TestClient, db: sa.Engine, make) -> None:  # type: ignore[no-untyped-def]
    sid = add_subscriber(db, "ada@example.com")
    add_subscriber(db, "bob@example.com")
    t = make(sid)
    for method, path in (
        ("GET", "/unsubscribe"),
        ("POST", "/unsubscribe"),
        ("GET", "/preferences"),
        ("POST", "/preferences"),
    ):
        res = client.request(
            method, path, params={"t": t}, data=ONE_CLICK if method == "POST" else None
        )
        assert res.status_code == 400, (method, path)
        assert "not valid" in res.text
    assert client.post("/unsubscribe", data=ONE_CLICK).status_code == 400
    with db.connect() as conn:
        statuses = conn.execute(sa.text("SELECT status FROM subscribers")).scalars().all()
    assert set(statuses) == {"active"}


def test_preferences_choose_editions(client: TestClient, db: sa.Engine) -> None:
    sid = add_subscriber(db, "ada@example.com")
    url = f"/preferences?t={token(sid, 'ada@example.com')}"
    page = client.get(url).text
    assert page.count("checked") == 2 and "Midweek" in page and "Sunday" in page

    res = client.post(url, data={"sunday": "on", "action": "save"})
    assert res.status_code == 200 and "Saved" in res.text
    row = subscriber(db, sid)
    assert (row["wants_midweek"], row["wants_sunday"], row["status"]) == (False, True, "active")

    client.post(url, data={"midweek": "on", "sunday": "on", "action": "save"})
    assert (subscriber(db, sid)["wants_midweek"], subscriber(db, sid)["wants_sunday"]) == (
        True,
        True,
    )

    res = client.post(url, data={"midweek": "on", "action": "unsubscribe"})
    assert "unsubscribed from every edition" in res.text
    assert subscriber(db, sid)["status"] == "unsubscribed"

    client.post(url, data={"midweek": "on", "action": "save"})  # opting in again by their own link
    row = subscriber(db, sid)
    assert (row["status"], row["wants_midweek"], row["wants_sunday"]) == ("active", True, False)

    client.post(url, data={"action": "save"})  # nothing chosen means no emails
    assert subscriber(db, sid)["status"] == "unsubscribed"


def test_missing_secret_key_answers_503(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path)
    sid = add_subscriber(engine, "ada@example.com")
    client = TestClient(create_app(project(tmp_path), secrets(key=None), engine=engine))
    t = token(sid, "ada@example.com")
    for method, path in (
        ("GET", "/unsubscribe"),
        ("POST", "/unsubscribe"),
        ("GET", "/preferences"),
        ("POST", "/preferences"),
    ):
        res = client.request(method, path, params={"t": t})
        assert res.status_code == 503 and "signing key" in res.text
    assert subscriber(engine, sid)["status"] == "active"


def test_missing_secret_key_is_reported_before_the_database(tmp_path: Path) -> None:
    client = TestClient(
        create_app(project(tmp_path), secrets(key=None), engine=sa.create_engine("sqlite://"))
    )
    res = client.get("/unsubscribe", params={"t": token(1, "ada@example.com")})
    assert res.status_code == 503 and "signing key" in res.text


def test_database_not_ready_answers_503(tmp_path: Path) -> None:
    empty = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    client = TestClient(create_app(project(tmp_path), secrets(), engine=empty))
    res = client.get("/unsubscribe", params={"t": token(1, "ada@example.com")})
    assert res.status_code == 503 and "not available" in res.text


def test_unicode_digit_tokens_get_400_not_500(client: TestClient, db: sa.Engine) -> None:
    """ "²", "١" and friends pass str.isdigit(); int() refuses some: never an unauthenticated 500."""
    add_subscriber(db, "ada@example.com")
    for bad in ("²³.abc", "١.abc", "\U0001d7d9.abc", "1" * 30 + ".abc", "1.é"):
        for method, path in (
            ("GET", "/unsubscribe"),
            ("POST", "/unsubscribe"),
            ("GET", "/preferences"),
        ):
            res = client.request(
                method, path, params={"t": bad}, data=ONE_CLICK if method == "POST" else None
            )
            assert res.status_code == 400, (bad, method, path, res.status_code)
