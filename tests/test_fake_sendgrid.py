"""The fake SendGrid itself: it must refuse what SendGrid refuses, or the provider tests lie."""

from __future__ import annotations

import copy
import gzip
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from newsletter.delivery import build_payload
from tests.fakes import (
    DEFAULT_KEY,
    FakeSendGrid,
    Fault,
    MailSendValidator,
    load_mail_send_schema,
)
from tests.fakes.samples import make_issue, recipients
from tests.fakes.sendgrid_server import openapi_to_jsonschema, parse_fault


@pytest.fixture(scope="module")
def validator() -> MailSendValidator:
    return MailSendValidator()


@pytest.fixture(scope="module")
def good() -> dict[str, Any]:
    return build_payload(make_issue(), recipients(3))


def fields(validator: MailSendValidator, body: dict[str, Any]) -> list[str | None]:
    return [e["field"] for e in validator.errors(body)]


def test_schema_is_resolved_and_plain_json_schema() -> None:
    schema = load_mail_send_schema()
    text = json.dumps(schema)
    assert "$ref" not in text and "nullable" not in text
    assert schema["properties"]["from"]["required"] == ["email"]
    assert schema["properties"]["personalizations"]["maxItems"] == 1000


def test_nullable_becomes_a_null_type() -> None:
    doc = {"components": {"schemas": {"S": {"type": "string", "nullable": True}}}}
    node = {"properties": {"field": {"$ref": "#/components/schemas/S"}}, "example": {}}
    assert openapi_to_jsonschema(node, doc) == {
        "properties": {"field": {"type": ["string", "null"]}}
    }


def test_a_good_payload_passes(validator: MailSendValidator, good: dict[str, Any]) -> None:
    assert validator.errors(good) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.pop("from"), None),
        (lambda b: b["personalizations"][0].pop("to"), "personalizations.0"),
        (
            lambda b: b["personalizations"][0]["to"][0].update(email="nobody"),
            "personalizations.0.to.0.email",
        ),
        (
            lambda b: b["personalizations"][0]["headers"].update({"X-Count": 3}),
            "personalizations.0.headers.X-Count",
        ),
        (
            lambda b: b["personalizations"][0]["headers"].update({"To": "x@y.z"}),
            "personalizations.0.headers.To",
        ),
        (
            lambda b: b["personalizations"][0]["custom_args"].update(n=1),
            "personalizations.0.custom_args.n",
        ),
        (
            lambda b: b["personalizations"][0]["custom_args"].update(big="x" * 10_000),
            "personalizations.0.custom_args",
        ),
        (
            lambda b: b["personalizations"][0]["substitutions"].update({"%x%": "y" * 10_000}),
            "personalizations.0.substitutions",
        ),
        (
            lambda b: b["personalizations"][0]["substitutions"].update({"%n%": 5}),
            "personalizations.0.substitutions.%n%",
        ),
        (
            lambda b: b["personalizations"][1]["to"][0].update(
                email=b["personalizations"][0]["to"][0]["email"].upper()
            ),
            "personalizations.1.to.0.email",
        ),
        (lambda b: b.update(categories=[f"c{i}" for i in range(11)]), "categories"),
        (lambda b: b.update(content=list(reversed(b["content"]))), "content.0.type"),
        (lambda b: b.update(content=[]), "content"),
        (lambda b: b.pop("subject"), "personalizations.0.subject"),
        (lambda b: b.update(custom_args={"issue_id": "x"}), "custom_args"),
    ],
)
def test_what_sendgrid_refuses_is_refused(
    validator: MailSendValidator, good: dict[str, Any], change: Any, field: str | None
) -> None:
    body = copy.deepcopy(good)
    change(body)
    assert field in fields(validator, body)


def test_recipient_limits(validator: MailSendValidator) -> None:
    body = build_payload(make_issue(), recipients(1000))
    assert validator.errors(body) == []
    body["personalizations"][0]["cc"] = [{"email": "extra@example.com"}]
    assert "personalizations" in fields(validator, body)  # 1001 recipients in total
    body = build_payload(make_issue(), recipients(1000))
    body["personalizations"].append({"to": [{"email": "one-more@example.com"}]})
    assert "personalizations" in fields(validator, body)


def post(
    server: FakeSendGrid, data: bytes, key: str | None = None, **headers: str
) -> tuple[int, Any, Any]:
    request = urllib.request.Request(
        server.url + "/v3/mail/send",
        data=data,
        headers={
            "Authorization": f"Bearer {key or server.api_key}",
            "Content-Type": "application/json",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def test_server_answers_like_sendgrid(sendgrid_server: FakeSendGrid, good: dict[str, Any]) -> None:
    status, headers, _ = post(sendgrid_server, json.dumps(good).encode())
    assert status == 202 and headers["X-Message-Id"]
    status, _, body = post(sendgrid_server, json.dumps(good).encode(), key="SG.other")
    assert status == 401 and body["errors"][0]["message"]
    status, _, body = post(
        sendgrid_server, json.dumps(good).encode(), **{"Content-Type": "text/plain"}
    )
    assert status == 415
    status, _, body = post(sendgrid_server, b"{not json")
    assert status == 400 and "errors" in body
    bad = {**good, "categories": ["a", "a"]}
    status, _, body = post(sendgrid_server, json.dumps(bad).encode())
    assert status == 400 and body["errors"][0]["field"] == "categories"
    status, _, _ = post(
        sendgrid_server, gzip.compress(json.dumps(good).encode()), **{"Content-Encoding": "gzip"}
    )
    assert status == 202
    assert sendgrid_server.accepted_requests == 2 and len(sendgrid_server.rejected) == 1
    assert (
        sendgrid_server.recipients() == [p["to"][0]["email"] for p in good["personalizations"]] * 2
    )


def test_scripted_faults_come_in_order(sendgrid_server: FakeSendGrid, good: dict[str, Any]) -> None:
    data = json.dumps(good).encode()
    sendgrid_server.script(Fault.rate_limited(retry_after=3), Fault.server_error(503))
    status, headers, _ = post(sendgrid_server, data)
    assert status == 429 and headers["Retry-After"] == "3"
    assert post(sendgrid_server, data)[0] == 503
    assert post(sendgrid_server, data)[0] == 202
    assert sendgrid_server.pending_faults() == 0
    assert [e.outcome for e in sendgrid_server.exchanges] == [429, 503, 202]


def test_counting_mode_without_validation(good: dict[str, Any]) -> None:
    with FakeSendGrid(validate=False, record=False) as server:
        for _ in range(3):
            assert post(server, json.dumps(good, separators=(",", ":")).encode())[0] == 202
        assert server.accepted_requests == 3 and server.accepted_recipients == 9
        assert server.requests == []


def test_random_faults_are_reproducible(good: dict[str, Any]) -> None:
    data = json.dumps(good).encode()

    def run() -> list[int]:
        with FakeSendGrid(fault_rate=0.5, random_faults=[Fault.server_error(503)], seed=7) as s:
            return [post(s, data)[0] for _ in range(12)]

    first = run()
    assert first == run()
    assert set(first) == {202, 503}


def test_fault_specs() -> None:
    assert parse_fault("429:3").headers == {"Retry-After": "3"}
    assert parse_fault("503").status == 503
    assert parse_fault("drop_after_body:lost").deliver is False
    assert parse_fault("slow:2").delay == 2
    with pytest.raises(ValueError):
        parse_fault("teapot")


def test_runs_as_a_process_and_records_to_a_file(tmp_path: Path, good: dict[str, Any]) -> None:
    sink = tmp_path / "accepted.txt"
    command = [sys.executable, "-m", "tests.fakes", "--record-to", str(sink)]
    command += ["--fault", "500"]
    root = Path(__file__).resolve().parent.parent
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            data = json.dumps(good).encode()
            request = urllib.request.Request(
                url + "/v3/mail/send",
                data=data,
                headers={
                    "Authorization": f"Bearer {DEFAULT_KEY}",
                    "Content-Type": "application/json",
                },
            )
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=5)
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 202
        finally:
            proc.terminate()
    assert sink.read_text().splitlines() == [p["to"][0]["email"] for p in good["personalizations"]]
