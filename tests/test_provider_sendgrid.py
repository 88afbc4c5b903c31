"""The SendGrid provider, driven through the official client against the fake SendGrid."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.config import SendGridConfig
from newsletter.delivery import (
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
    ProviderTransientError,
    ProviderUncertainError,
    Recipient,
    SendGridProvider,
    build_payload,
    prepare_payload,
)
from newsletter.delivery.sendgrid import (
    MAX_SUBSTITUTION_BYTES,
    PayloadSettings,
    encode_payload,
    error_details,
    retry_after_seconds,
    safe_name,
)
from tests.fakes import FakeSendGrid, Fault, MailSendValidator, closed_port
from tests.fakes.samples import make_issue, make_recipient, recipients


@pytest.fixture(scope="module")
def validator() -> MailSendValidator:
    return MailSendValidator()


@pytest.fixture
def server() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


def provider_for(server: FakeSendGrid, **cfg: Any) -> SendGridProvider:
    settings = SendGridConfig(host=server.url, **{"timeout": 5, **cfg})
    return SendGridProvider(settings, server.api_key)


# -- payloads against the contract ---------------------------------------------------------

TRICKY_NAMES = [
    "Doe, John",
    "O'Brien; Pat",
    'Ann "The Hammer" Smith',
    '"Already, quoted"',
    "Zoë Ångström",
    "李小龍",
    "  spaced   out  ",
    "tab\tand\nnewline",
    "back\\slash, comma",
    "",
    None,
]


@pytest.mark.parametrize("size", [1, 2, 1000])
def test_payloads_validate_against_the_contract(size: int, validator: MailSendValidator) -> None:
    batch = recipients(size)
    body = build_payload(make_issue(), batch)
    assert validator.errors(body) == []
    assert len(body["personalizations"]) == size
    # Order is kept, one recipient per personalization, values and headers are per recipient.
    assert [p["to"][0]["email"] for p in body["personalizations"]] == [r.email for r in batch]
    first = body["personalizations"][0]
    assert first["substitutions"] == dict(batch[0].values)
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["headers"]["List-Unsubscribe"].startswith("<https://almanac.example/")
    assert first["custom_args"] == {"issue_id": "2026-11-22-sunday"}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    # Substituted by SendGrid, not here; the HTML part names the escaped copy of the name.
    assert "%first_name%" in body["content"][0]["value"]
    assert "%first_name_html%" in body["content"][1]["value"]
    assert body["categories"] == ["sunday"]
    assert body["from"] == {"email": "newsletter@almanac.example", "name": "Call Me Almanac"}
    assert body["reply_to"] == {"email": "editors@almanac.example"}
    assert "mail_settings" not in body


def test_tricky_names_are_quoted_or_dropped(validator: MailSendValidator) -> None:
    batch = [make_recipient(i, name) for i, name in enumerate(TRICKY_NAMES, 1)]
    body = build_payload(make_issue(), batch)
    assert validator.errors(body) == []
    names = [p["to"][0].get("name") for p in body["personalizations"]]
    assert names[0] == '"Doe, John"'
    assert names[1] == '"O\'Brien; Pat"'
    assert names[2] == 'Ann "The Hammer" Smith'  # no comma or semicolon: left alone
    assert names[3] == '"Already, quoted"'
    assert names[4] == "Zoë Ångström"
    assert names[5] == "李小龍"
    assert names[6] == "spaced out"
    assert names[7] == "tab and newline"
    assert names[8] == '"back\\\\slash, comma"'
    assert names[9] is None and names[10] is None


def test_safe_name_round_trips_through_an_address_parser() -> None:
    from email.utils import getaddresses

    for name in ["Doe, John", 'Pat "P, J" Lee', "a;b;c", "x\\y, z"]:
        quoted = safe_name(name)
        assert quoted is not None
        parsed = getaddresses([f"{quoted} <x@example.com>"])
        assert parsed == [(name, "x@example.com")]


def test_long_values_and_the_substitution_limit(validator: MailSendValidator) -> None:
    long_ok = make_recipient(1)
    long_ok = Recipient(
        long_ok.email, "Ada", {**long_ok.values, "%first_name%": "é" * 4000}, long_ok.headers
    )
    too_big = make_recipient(2)
    too_big = Recipient(too_big.email, "Bo", {"%first_name%": "x" * MAX_SUBSTITUTION_BYTES}, {})
    prepared = prepare_payload(make_issue(), [long_ok, too_big, make_recipient(3)])
    assert validator.errors(prepared.body) == []
    assert [p["to"][0]["email"] for p in prepared.body["personalizations"]] == [
        "reader1@example.com",
        "reader3@example.com",
    ]
    assert "reader2@example.com" in prepared.rejected
    assert "10000" in prepared.rejected["reader2@example.com"]


def test_duplicates_in_a_batch_are_sent_once(validator: MailSendValidator) -> None:
    batch = [make_recipient(1), make_recipient(2, email="READER1@example.com"), make_recipient(3)]
    prepared = prepare_payload(make_issue(), batch)
    assert validator.errors(prepared.body) == []
    assert prepared.size == 2
    assert prepared.duplicates == ["READER1@example.com"]


def test_sandbox_ip_pool_categories_and_test_sends(validator: MailSendValidator) -> None:
    issue = make_issue(categories=tuple(f"c{i}" for i in range(15)), test=True)
    body = build_payload(issue, recipients(2), PayloadSettings(sandbox_mode=True, ip_pool="news"))
    assert validator.errors(body) == []
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert body["ip_pool_name"] == "news"
    assert len(body["categories"]) == 10 and body["categories"][0] == "sunday"


def test_batch_larger_than_sendgrid_allows_is_refused() -> None:
    with pytest.raises(ProviderRejectedError, match="at most 1000"):
        build_payload(make_issue(), recipients(1001))


def test_encoded_body_is_the_payload() -> None:
    batch = [make_recipient(i, name) for i, name in enumerate(TRICKY_NAMES, 1)]
    body = build_payload(make_issue(html="<p>ünï ☃ %first_name%</p>"), batch)
    data = encode_payload(body)
    assert json.loads(data.decode("utf-8")) == body


def test_body_with_a_lone_surrogate_is_still_encoded() -> None:
    batch = [make_recipient(1, "Bad \udc80 Name")]
    body = build_payload(make_issue(), batch)
    data = encode_payload(body)
    assert data.isascii()
    assert json.loads(data) == body


# -- end to end through the official client -------------------------------------------------


def test_sends_through_the_official_client(server: FakeSendGrid) -> None:
    provider = provider_for(server)
    batch = [make_recipient(i, name) for i, name in enumerate(TRICKY_NAMES, 1)]
    result = provider.send_batch(make_issue(), batch)
    assert result.status_code == 202
    assert result.message_id == server.requests[0].message_id
    assert server.rejected == []
    assert server.requests[0].body == build_payload(make_issue(), batch)
    assert server.recipients() == [r.email for r in batch]


def test_a_thousand_recipients_in_one_valid_request(server: FakeSendGrid) -> None:
    provider = provider_for(server)
    assert provider.max_batch_size == 1000
    result = provider.send_batch(make_issue(), recipients(1000))
    assert result.status_code == 202
    assert server.rejected == []
    assert len(server.requests) == 1 and len(server.recipients()) == 1000


def test_sandbox_mode_answers_200_and_is_accepted(server: FakeSendGrid) -> None:
    result = provider_for(server, sandbox_mode=True).send_batch(make_issue(), recipients(2))
    assert result.status_code == 200
    assert result.message_id


def test_batch_size_is_capped_at_the_configured_size(server: FakeSendGrid) -> None:
    provider = SendGridProvider(SendGridConfig(host=server.url), server.api_key, batch_size=50)
    assert provider.max_batch_size == 50
    with pytest.raises(ProviderRejectedError):
        provider.send_batch(make_issue(), recipients(51))
    big = SendGridProvider(SendGridConfig(host=server.url), server.api_key, batch_size=5000)
    assert big.max_batch_size == 1000


def test_preview_payload_is_the_first_batch(server: FakeSendGrid) -> None:
    provider = SendGridProvider(SendGridConfig(host=server.url), None, batch_size=3)
    preview = provider.preview_payload(make_issue(), recipients(10))
    assert len(preview["personalizations"]) == 3
    assert server.exchanges == []  # nothing was posted


def test_recipients_left_out_are_reported(server: FakeSendGrid) -> None:
    too_big = Recipient("big@example.com", None, {"%first_name%": "x" * 20_000}, {})
    result = provider_for(server).send_batch(make_issue(), [make_recipient(1), too_big])
    assert result.status_code == 202
    assert set(result.rejected) == {"big@example.com"}
    only_big = provider_for(server).send_batch(make_issue(), [too_big])
    assert only_big.status_code is None and set(only_big.rejected) == {"big@example.com"}
    assert len(server.requests) == 1


# -- error mapping -------------------------------------------------------------------------


def test_429_is_transient_with_retry_after(server: FakeSendGrid) -> None:
    server.script(Fault.rate_limited(retry_after=7))
    with pytest.raises(ProviderTransientError) as info:
        provider_for(server).send_batch(make_issue(), recipients(2))
    assert info.value.status_code == 429
    assert info.value.retry_after == 7
    assert server.requests == []


def test_429_with_only_rate_limit_reset(server: FakeSendGrid) -> None:
    server.script(Fault.rate_limited(retry_after=None, reset_at=time.time() + 30))
    with pytest.raises(ProviderTransientError) as info:
        provider_for(server).send_batch(make_issue(), recipients(1))
    assert info.value.retry_after is not None and 25 <= info.value.retry_after <= 31


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(server: FakeSendGrid, status: int) -> None:
    server.script(Fault.server_error(status, retry_after=2))
    with pytest.raises(ProviderTransientError) as info:
        provider_for(server).send_batch(make_issue(), recipients(1))
    assert info.value.status_code == status and info.value.retry_after == 2


def test_401_is_an_auth_error(server: FakeSendGrid) -> None:
    server.script(Fault.unauthorized())
    with pytest.raises(ProviderAuthError) as info:
        provider_for(server).send_batch(make_issue(), recipients(1))
    assert info.value.status_code == 401


def test_a_wrong_key_is_an_auth_error_without_the_key(
    server: FakeSendGrid, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "SG.wrong-but-secret-key-123"
    caplog.set_level(logging.DEBUG)
    provider = SendGridProvider(SendGridConfig(host=server.url), secret)
    with pytest.raises(ProviderAuthError) as info:
        provider.send_batch(make_issue(), recipients(1))
    assert secret not in str(info.value) and secret not in repr(provider)
    assert secret not in caplog.text
    assert "reader1@example.com" not in caplog.text  # payload debug records are dropped


def test_the_key_never_reaches_logs_or_errors(
    server: FakeSendGrid, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = provider_for(server)
    provider.send_batch(make_issue(), recipients(1))
    errors: list[ProviderError] = []
    for fault in [Fault.server_error(), Fault.too_large(), Fault.drop_after_body()]:
        server.script(fault)
        with pytest.raises(ProviderError) as info:
            provider.send_batch(make_issue(), recipients(1))
        errors.append(info.value)
    assert server.api_key not in caplog.text
    for err in errors:
        assert server.api_key not in str(err)


def test_missing_key_is_a_clear_auth_error(server: FakeSendGrid) -> None:
    provider = SendGridProvider(SendGridConfig(host=server.url), None)
    with pytest.raises(ProviderAuthError, match="SENDGRID_API_KEY is not set"):
        provider.send_batch(make_issue(), recipients(1))
    assert server.exchanges == []


@pytest.mark.parametrize("fault", [Fault.forbidden(), Fault.too_large()])
def test_403_and_413_are_rejected(server: FakeSendGrid, fault: Fault) -> None:
    server.script(fault)
    with pytest.raises(ProviderRejectedError) as info:
        provider_for(server).send_batch(make_issue(), recipients(1))
    assert info.value.status_code == fault.status


def test_400_carries_sendgrids_messages_on_one_line(server: FakeSendGrid) -> None:
    bad = Recipient("not-an-address", None, {}, {})
    with pytest.raises(ProviderRejectedError) as info:
        provider_for(server).send_batch(make_issue(), [bad])
    message = str(info.value)
    assert info.value.status_code == 400
    assert "personalizations.0.to.0.email" in message and "\n" not in message


def test_connection_refused_is_transient() -> None:
    cfg = SendGridConfig(host=f"http://127.0.0.1:{closed_port()}", timeout=5)
    with pytest.raises(ProviderTransientError, match="unreachable"):
        SendGridProvider(cfg, "SG.key").send_batch(make_issue(), recipients(1))


def test_unknown_host_is_transient() -> None:
    cfg = SendGridConfig(host="http://sendgrid.invalid", timeout=5)
    with pytest.raises(ProviderTransientError, match="unreachable"):
        SendGridProvider(cfg, "SG.key").send_batch(make_issue(), recipients(1))


def test_connect_timeout_is_transient() -> None:
    # A listener whose accept queue is full drops new SYNs: the connect itself times out.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            cfg = SendGridConfig(host=f"http://127.0.0.1:{port}", timeout=0.5)
            with pytest.raises(ProviderTransientError, match="timed out"):
                SendGridProvider(cfg, "SG.key").send_batch(make_issue(), recipients(1))


def test_drop_after_the_body_is_uncertain(server: FakeSendGrid) -> None:
    server.script(Fault.drop_after_body(deliver=True))
    with pytest.raises(ProviderUncertainError):
        provider_for(server).send_batch(make_issue(), recipients(3))
    # SendGrid acted on it: that is why the dispatcher must not resend blindly.
    assert len(server.recipients()) == 3


def test_drop_before_the_body_was_read_is_retryable_or_uncertain(server: FakeSendGrid) -> None:
    # http.client writes the headers, then the body. A reset that lands while the body is
    # still being written is a failed write (transient: the request never arrived whole); one
    # that lands after the last byte left cannot be told from a crash after SendGrid acted on
    # it (uncertain). Which one happens is a race; both claims are true to what the client saw.
    for _ in range(5):
        server.script(Fault.drop_before_body())
        with pytest.raises((ProviderTransientError, ProviderUncertainError)):
            provider_for(server).send_batch(make_issue(), recipients(1))
    assert server.recipients() == []


def test_lost_answer_without_delivery_is_uncertain(server: FakeSendGrid) -> None:
    server.script(Fault.drop_after_body(deliver=False))
    with pytest.raises(ProviderUncertainError):
        provider_for(server).send_batch(make_issue(), recipients(1))
    assert server.recipients() == []


def test_a_slow_answer_times_out_instead_of_hanging(server: FakeSendGrid) -> None:
    server.script(Fault.slow(30))
    started = time.monotonic()
    with pytest.raises(ProviderUncertainError, match="timed out"):
        provider_for(server, timeout=0.5).send_batch(make_issue(), recipients(1))
    assert time.monotonic() - started < 20  # bounded by the timeout, not the 30 s answer


def test_provider_recovers_after_faults(server: FakeSendGrid) -> None:
    provider = provider_for(server)
    server.script(Fault.server_error(), Fault.rate_limited(1))
    for _ in range(2):
        with pytest.raises(ProviderTransientError):
            provider.send_batch(make_issue(), recipients(1))
    assert provider.send_batch(make_issue(), recipients(1)).status_code == 202


def test_threads_share_one_provider(server: FakeSendGrid) -> None:
    provider = provider_for(server)
    batches = [recipients(300)[i : i + 50] for i in range(0, 300, 50)]
    errors: list[BaseException] = []

    def send(batch: list[Recipient]) -> None:
        try:
            provider.send_batch(make_issue(), batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and server.rejected == []
    assert sorted(server.recipients()) == sorted(r.email for r in recipients(300))


# -- helpers -------------------------------------------------------------------------------


def test_retry_after_parsing() -> None:
    now = 1_000_000.0
    assert retry_after_seconds({"Retry-After": "12"}, now) == 12
    assert retry_after_seconds({"Retry-After": "1.5"}, now) == 1.5
    date = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=60), usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, now) == pytest.approx(60)
    assert retry_after_seconds({"X-RateLimit-Reset": str(int(now) + 9)}, now) == 9
    assert retry_after_seconds({"X-RateLimit-Reset": str(int(now) - 9)}, now) == 0
    assert retry_after_seconds({"Retry-After": "soon"}, now) is None
    assert retry_after_seconds({}, now) is None
    assert retry_after_seconds(None, now) is None


def test_error_details_joins_sendgrid_errors() -> None:
    body = json.dumps(
        {
            "errors": [
                {"message": "The from\nemail is invalid", "field": "from.email"},
                {"message": "Bad header", "field": None},
            ]
        }
    ).encode()
    assert error_details(body) == "from.email: The from email is invalid; Bad header"
    assert error_details(b"<html>oops</html>") == "<html>oops</html>"
    assert error_details(b"") == ""


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    names=st.lists(st.one_of(st.none(), st.text(max_size=40)), min_size=1, max_size=12),
    value=st.text(max_size=3000),
)
def test_any_names_and_values_make_a_valid_payload(
    validator: MailSendValidator, names: list[str | None], value: str
) -> None:
    batch = [
        Recipient(
            f"r{i}@example.com",
            name,
            {**make_recipient(i).values, "%first_name%": value},
            make_recipient(i).headers,
        )
        for i, name in enumerate(names)
    ]
    prepared = prepare_payload(make_issue(), batch)
    assert validator.errors(prepared.body) == []
    assert json.loads(encode_payload(prepared.body)) == prepared.body
    sent = [p["to"][0]["email"] for p in prepared.body["personalizations"]]
    assert sorted(sent + list(prepared.rejected)) == sorted(r.email for r in batch)
