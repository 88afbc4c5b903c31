"""Shared pieces of the signup tests: an app with its outbox, reading the emails it wrote."""

from __future__ import annotations

import email
import re
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from web_support import SECRET_KEY, project, secrets

from newsletter.config import Settings
from newsletter.delivery.outbox import delivered
from newsletter.signup import SignupAttempt, make_stamp
from newsletter.store import tables
from newsletter.store.signups import Consent, consents_for

KINDS = ("confirm", "welcome", "already")
TOKEN_URL = re.compile(r"/confirm\?t=([A-Za-z0-9_-]+)")


@dataclass
class SignupSite:
    cfg: Settings
    client: TestClient
    engine: sa.Engine
    outbox: Path
    key: str = SECRET_KEY

    def mails(self, kind: str = "confirm") -> list[dict[str, str]]:
        """Every email of one kind the outbox wrote (delivered.log: one line per message)."""
        self.flush()
        return delivered(self.outbox / f"signup-{kind}")

    def flush(self) -> None:
        """Wait for the app's mail thread to hand every queued email to the outbox."""
        runtime = getattr(self.client.app.state, "signup", None)  # type: ignore[attr-defined]
        if runtime is not None:
            assert runtime.mails.flush(30)

    def sent_total(self) -> int:
        return sum(len(self.mails(k)) for k in KINDS)

    def message(self, address: str, kind: str = "confirm") -> EmailMessage:
        """The last message of ``kind`` to ``address``, parsed from its raw .eml bytes."""
        for entry in reversed(self.mails(kind)):
            if entry["email"] == address:
                raw = (self.outbox / f"signup-{kind}" / entry["file"]).read_bytes()
                msg = email.message_from_bytes(raw, policy=policy.default)
                assert isinstance(msg, EmailMessage)
                return msg
        raise AssertionError(f"no {kind} email to {address}")

    def token(self, address: str) -> str:
        """The confirmation token in the last confirmation email to ``address``."""
        body = self.message(address).get_body(("plain",))
        assert body is not None
        found = TOKEN_URL.search(body.get_content())
        assert found, "no confirmation link in the text part"
        return found.group(1)

    def stamp(self, age: float = 60, minimum: float = 3) -> str:
        """A form timestamp as the signup page signs it, issued ``age`` seconds ago."""
        return make_stamp(self.key.encode(), time.time() - age, minimum)

    def form(self, address: str, **fields: Any) -> Any:
        data = {"email": address, "midweek": "on", "sunday": "on", "ts": self.stamp(), **fields}
        data = {k: v for k, v in data.items() if v is not None}
        return self.client.post("/subscribe", data=data)

    def api(self, address: str, **fields: Any) -> Any:
        return self.client.post("/api/subscribe", json={"email": address, **fields})

    def row(self, address: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(tables.subscribers).where(tables.subscribers.c.email == address)
            ).first()
        return dict(row._mapping) if row is not None else None

    def consents(self, address: str) -> list[Consent]:
        with self.engine.connect() as conn:
            return consents_for(conn, address)

    def count(self, table: sa.Table) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def make_site(folder: Path, engine: sa.Engine, **signup: Any) -> SignupSite:
    from newsletter.web import create_app

    cfg = project(folder, signup=signup) if signup else project(folder)
    client = TestClient(create_app(cfg, secrets(), engine=engine), base_url="http://127.0.0.1")
    return SignupSite(cfg, client, engine, cfg.path(cfg.delivery.outbox.dir))


def require_pow(attempt: SignupAttempt) -> bool:
    """A stand-in proof-of-work check for the challenge hook: the field ``pow`` must be ok."""
    return attempt.fields.get("pow") == "ok"
