"""The outbox provider (.eml files) and choosing a provider by name."""

from __future__ import annotations

import threading
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from newsletter.config import Secrets, Settings
from newsletter.delivery import (
    OutboxProvider,
    Provider,
    ProviderAuthError,
    Recipient,
    SendGridProvider,
    SmtpProvider,
    make_provider,
)
from newsletter.delivery.outbox import DELIVERED_LOG, delivered, eml_name
from newsletter.errors import InputError
from tests.fakes.samples import make_issue, make_recipient


def read(path: Path) -> object:
    return message_from_bytes(path.read_bytes(), policy=policy.default)


def test_writes_one_eml_per_recipient(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path / "outbox")
    batch = [make_recipient(1), make_recipient(2, "Doe, Jane")]
    result = provider.send_batch(make_issue(), batch)
    folder = tmp_path / "outbox" / "2026-11-22-sunday"
    files = sorted(p.name for p in folder.glob("*.eml"))
    assert files == sorted(eml_name(r.email) for r in batch)
    assert set(result.message_ids) == {r.email for r in batch}
    msg = message_from_bytes(
        (folder / eml_name("reader2@example.com")).read_bytes(), policy=policy.default
    )
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["To"].addresses[0].display_name == "Doe, Jane"
    assert msg.get_all("List-Unsubscribe") == [batch[1].headers["List-Unsubscribe"]]
    assert msg.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    assert batch[1].values["%unsubscribe_url%"] in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert msg["X-Newsletter-Issue"] == "2026-11-22-sunday"
    log = delivered(folder)
    assert [entry["email"] for entry in log] == ["reader1@example.com", "reader2@example.com"]
    assert {entry["message_id"] for entry in log} == set(result.message_ids.values())
    assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_a_second_copy_overwrites_the_file_but_shows_in_the_log(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path)
    provider.send_batch(make_issue(), [make_recipient(1)])
    provider.send_batch(make_issue(), [make_recipient(1)])
    folder = tmp_path / "2026-11-22-sunday"
    assert len(list(folder.glob("*.eml"))) == 1
    assert [e["email"] for e in delivered(folder)] == ["reader1@example.com"] * 2


def test_file_names_are_stable_and_distinct() -> None:
    assert eml_name("Ann@Example.com") == eml_name("ann@example.com")
    assert eml_name("a/b@example.com") != eml_name("a_b@example.com")
    assert "/" not in eml_name("../../etc/passwd@x")


def test_test_sends_go_to_their_own_folder(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path)
    provider.send_batch(make_issue(test=True), [make_recipient(1)])
    assert len(list((tmp_path / "2026-11-22-sunday" / "test").glob("*.eml"))) == 1
    assert not list((tmp_path / "2026-11-22-sunday").glob("*.eml"))


def test_a_bad_recipient_is_rejected_alone(tmp_path: Path) -> None:
    bad = Recipient("broken@example.com", None, {}, {"X-Bad": "line\r\nBcc: evil@example.com"})
    result = OutboxProvider(tmp_path).send_batch(make_issue(), [bad, make_recipient(1)])
    assert set(result.rejected) == {"broken@example.com"}
    assert set(result.message_ids) == {"reader1@example.com"}


def test_unsafe_issue_id_is_refused(tmp_path: Path) -> None:
    from newsletter.delivery import ProviderRejectedError

    with pytest.raises(ProviderRejectedError):
        OutboxProvider(tmp_path).send_batch(make_issue(issue_id="../x"), [make_recipient(1)])


def test_concurrent_batches_keep_every_log_line(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path)

    def send(start: int) -> None:
        for i in range(start, start + 20):
            provider.send_batch(make_issue(), [make_recipient(i)])

    threads = [threading.Thread(target=send, args=(s,)) for s in (1, 101, 201, 301)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = delivered(tmp_path / "2026-11-22-sunday")
    assert len(log) == 80 and len({e["email"] for e in log}) == 80
    assert (tmp_path / "2026-11-22-sunday" / DELIVERED_LOG).read_text().endswith("\n")


# -- the factory ---------------------------------------------------------------------------


def test_make_provider_follows_config_and_override(cfg: Settings) -> None:
    secrets = Secrets(sendgrid_api_key="SG.k", smtp_password="p")
    default = make_provider(cfg, secrets)
    assert isinstance(default, OutboxProvider) and isinstance(default, Provider)
    assert default.directory == cfg.path(cfg.delivery.outbox.dir)
    assert isinstance(make_provider(cfg, secrets, "sendgrid"), SendGridProvider)
    assert isinstance(make_provider(cfg, secrets, "SMTP"), SmtpProvider)
    for provider in (default, make_provider(cfg, secrets, "sendgrid")):
        assert provider.max_batch_size <= cfg.delivery.batch_size


def test_unknown_provider_is_bad_input(cfg: Settings) -> None:
    with pytest.raises(InputError, match="unknown provider 'pigeon'"):
        make_provider(cfg, Secrets(), "pigeon")


def test_sendgrid_without_a_key_fails_when_sending(cfg: Settings) -> None:
    provider = make_provider(cfg, Secrets(), "sendgrid")
    with pytest.raises(ProviderAuthError, match="SENDGRID_API_KEY"):
        provider.send_batch(make_issue(), [make_recipient(1)])


def test_every_provider_previews_its_first_message(cfg: Settings) -> None:
    secrets = Secrets(sendgrid_api_key="SG.k")
    batch = [make_recipient(1), make_recipient(2)]
    for name in ("outbox", "smtp"):
        preview = make_provider(cfg, secrets, name).preview_payload(make_issue(), batch)  # type: ignore[attr-defined]
        assert preview["provider"] == name and preview["recipients"] == 2
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in preview["message"]
    sendgrid = make_provider(cfg, secrets, "sendgrid").preview_payload(make_issue(), batch)  # type: ignore[attr-defined]
    assert len(sendgrid["personalizations"]) == 2
