"""A SendGrid-compatible ``POST /v3/mail/send`` server for tests and benchmarks.

It runs on 127.0.0.1 (port 0 by default) in a background thread, checks the Bearer key,
validates every body against the shared contract (``shared/contracts/
sendgrid-mail-v3.openapi.json``) plus the limits SendGrid documents but the schema does not
express, and answers like SendGrid: 202 (200 in sandbox mode) with an ``X-Message-Id``
header, or 400 with ``{"errors": [{"message", "field"}]}``.

Faults are scripted on demand, one per request in order (:meth:`FakeSendGrid.script`):
429 with ``Retry-After``, 5xx, 401, 413, a connection dropped before the body is read, one
dropped after the body was read (optionally counted as delivered: the uncertain case), and a
slow answer (to test client timeouts). A closed port (:func:`closed_port`) stands in for a
refused connection.

Only the standard library is needed unless ``validate=True`` (then ``jsonschema``). Run it as
a separate process for benchmarks: ``python -m tests.fakes --no-validate``
prints its URL on the first line of stdout.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import secrets
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CONTRACT_NAME = "sendgrid-mail-v3.openapi.json"
DEFAULT_KEY = "SG.fake-test-key"
MAIL_SEND = "/v3/mail/send"

MAX_RECIPIENTS = 1000
MAX_SUBSTITUTION_BYTES = 10_000
MAX_CUSTOM_ARGS_BYTES = 10_000
RESERVED_HEADERS = frozenset(
    {"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type"}
    | {"content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"}
)
# OpenAPI annotations with no JSON Schema meaning (``nullable`` is translated instead).
_OPENAPI_ONLY = frozenset({"example", "xml", "externalDocs", "discriminator"})
# Keywords whose value maps names to schemas (the names are not keywords).
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
_TO_KEY = re.compile(rb'"to"\s*:\s*\[')


def find_contract(start: Path | None = None) -> Path:
    """The contract file: ``$SENDGRID_CONTRACT``, else ``shared/contracts/`` beside the repo
    or any folder above it (worktrees live deeper than the main checkout)."""
    env = os.environ.get("SENDGRID_CONTRACT")
    if env:
        return Path(env)
    here = (start or Path(__file__)).resolve()
    for folder in here.parents:
        candidate = folder / "shared" / "contracts" / CONTRACT_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{CONTRACT_NAME} not found in a shared/contracts folder above {here}")


def _pointer(doc: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported (got {ref!r})")
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def openapi_to_jsonschema(node: Any, doc: dict[str, Any], _seen: tuple[str, ...] = ()) -> Any:
    """Inline local ``$ref``s and translate OpenAPI 3 keywords into plain JSON Schema 2020-12
    (``nullable: true`` → ``"null"`` added to ``type``; ``example`` and friends dropped)."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(item, doc, _seen) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in _seen:
            raise ValueError(f"recursive $ref {ref} is not supported")
        out.update(openapi_to_jsonschema(_pointer(doc, ref), doc, (*_seen, ref)))
    for key, value in node.items():
        if key == "$ref" or key in _OPENAPI_ONLY or key == "nullable":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: openapi_to_jsonschema(v, doc, _seen) for name, v in value.items()}
        else:
            out[key] = openapi_to_jsonschema(value, doc, _seen)
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def load_mail_send_schema(path: Path | None = None) -> dict[str, Any]:
    """The request body schema of ``POST /v3/mail/send``, as plain JSON Schema."""
    doc = json.loads((path or find_contract()).read_text(encoding="utf-8"))
    body = doc["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
    schema = openapi_to_jsonschema(body["schema"], doc)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return dict(schema)


def _field(path: Iterable[Any]) -> str | None:
    text = ".".join(str(p) for p in path)
    return text or None


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


class MailSendValidator:
    """Validates ``/v3/mail/send`` bodies; returns SendGrid-style errors (empty when valid)."""

    def __init__(self, schema_path: Path | None = None) -> None:
        from jsonschema import Draft202012Validator

        schema = load_mail_send_schema(schema_path)
        Draft202012Validator.check_schema(schema)
        self.schema = schema
        self._validator = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def errors(self, body: Any) -> list[dict[str, Any]]:
        """Every problem with ``body``: the contract's, then the documented limits."""
        found = [
            {"message": _short(err.message), "field": _field(err.absolute_path), "help": None}
            for err in sorted(self._validator.iter_errors(body), key=lambda e: list(e.path))
        ]
        if isinstance(body, dict):
            found += [
                {"message": message, "field": where, "help": None}
                for where, message in documented_limits(body)
            ]
        return found[:100]


def _utf8_size(values: dict[str, Any]) -> int:
    return sum(len(str(k).encode()) + len(str(v).encode()) for k, v in values.items())


def documented_limits(body: dict[str, Any]) -> list[tuple[str | None, str]]:
    """The rules of SendGrid's docs that the OpenAPI schema does not express."""
    problems: list[tuple[str | None, str]] = []
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list):
        return problems
    seen: dict[str, str] = {}
    total = 0
    top_args = body.get("custom_args") if isinstance(body.get("custom_args"), dict) else {}
    has_template = bool(body.get("template_id"))
    for i, p in enumerate(personalizations):
        if not isinstance(p, dict):
            continue
        where = f"personalizations.{i}"
        if not p.get("to"):
            problems.append(
                (
                    f"{where}.to",
                    "The to array is required for all personalization objects, and must have at least one email object with a valid email address.",
                )
            )
        for kind in ("to", "cc", "bcc"):
            entries = p.get(kind)
            if not isinstance(entries, list):
                continue
            for j, entry in enumerate(entries):
                email = entry.get("email") if isinstance(entry, dict) else None
                if not isinstance(email, str):
                    continue
                total += 1
                key = email.strip().lower()
                if key in seen:
                    problems.append(
                        (
                            f"{where}.{kind}.{j}.email",
                            f"Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [{email}] in the {seen[key]} field.",
                        )
                    )
                else:
                    seen[key] = f"{where}.{kind}"
        subs = p.get("substitutions")
        if isinstance(subs, dict) and _utf8_size(subs) > MAX_SUBSTITUTION_BYTES:
            problems.append(
                (
                    f"{where}.substitutions",
                    f"The total size of substitutions may not exceed {MAX_SUBSTITUTION_BYTES} bytes per personalization object.",
                )
            )
        args = p.get("custom_args")
        if isinstance(args, dict):
            problems += _string_values(args, f"{where}.custom_args", "custom_args")
            merged = {**top_args, **args}
            if len(json.dumps(merged, separators=(",", ":")).encode()) >= MAX_CUSTOM_ARGS_BYTES:
                problems.append(
                    (
                        f"{where}.custom_args",
                        f"The total size of custom arguments must be less than {MAX_CUSTOM_ARGS_BYTES} bytes.",
                    )
                )
        headers = p.get("headers")
        if isinstance(headers, dict):
            problems += _headers(headers, f"{where}.headers")
        if not has_template and not body.get("subject") and not p.get("subject"):
            problems.append(
                (
                    f"{where}.subject",
                    "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.",
                )
            )
    if total > MAX_RECIPIENTS:
        problems.append(
            (
                "personalizations",
                f"The total number of recipients (to, cc and bcc) must be no more than {MAX_RECIPIENTS} per request (got {total}).",
            )
        )
    if isinstance(body.get("headers"), dict):
        problems += _headers(body["headers"], "headers")
    content = body.get("content")
    if not has_template:
        if not isinstance(content, list) or not content:
            problems.append(
                (
                    "content",
                    "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.",
                )
            )
        else:
            types = [c.get("type") for c in content if isinstance(c, dict)]
            if "text/plain" in types and types[0] != "text/plain":
                problems.append(
                    (
                        "content.0.type",
                        "If present, text/plain content must be first, followed by any other content.",
                    )
                )
            if len(set(types)) != len(types):
                problems.append(("content", "Each content type may be given only once."))
    return problems


def _string_values(values: dict[str, Any], where: str, what: str) -> list[tuple[str | None, str]]:
    return [
        (
            f"{where}.{key}",
            f"Invalid type. Expected: string, given: {type(value).__name__} ({what} values must be strings).",
        )
        for key, value in values.items()
        if not isinstance(value, str)
    ]


def _headers(headers: dict[str, Any], where: str) -> list[tuple[str | None, str]]:
    problems = _string_values(headers, where, "header")
    problems += [
        (f"{where}.{name}", f"The {name} header is reserved and cannot be set here.")
        for name in headers
        if name.lower() in RESERVED_HEADERS
    ]
    return problems


# -- faults ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One scripted answer, used for the next request instead of the normal one.

    ``kind`` is ``reply`` (answer ``status``/``headers``/``body`` without validating),
    ``drop_before_body`` (reset the connection without reading the body: the client sees a
    failed write, i.e. transient, or a reset after writing, i.e. uncertain, depending on a
    race; use :func:`closed_port` for a certain transient failure),
    ``drop_after_body`` (read the body, then close without answering; with ``deliver`` the
    request counts as accepted: SendGrid acted on it but the answer was lost) or ``slow``
    (handle normally but wait ``delay`` seconds before answering).
    """

    kind: str
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    deliver: bool = False

    @classmethod
    def reply(cls, status: int, body: Any = None, **headers: str) -> Fault:
        return cls("reply", status=status, headers=dict(headers), body=body)

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1, reset_at: float | None = None) -> Fault:
        """429 with ``Retry-After`` seconds and/or ``X-RateLimit-Reset`` (epoch seconds)."""
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        if reset_at is not None:
            headers["X-RateLimit-Reset"] = str(int(reset_at))
        return cls("reply", status=429, headers=headers, body=_errors("too many requests"))

    @classmethod
    def server_error(cls, status: int = 500, retry_after: float | None = None) -> Fault:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return cls("reply", status=status, headers=headers, body=_errors("internal error"))

    @classmethod
    def unauthorized(cls) -> Fault:
        return cls("reply", status=401, body=_errors(_BAD_KEY))

    @classmethod
    def forbidden(cls) -> Fault:
        return cls("reply", status=403, body=_errors("access forbidden"))

    @classmethod
    def too_large(cls) -> Fault:
        return cls("reply", status=413, body=_errors("request entity too large"))

    @classmethod
    def drop_before_body(cls) -> Fault:
        return cls("drop_before_body")

    @classmethod
    def drop_after_body(cls, deliver: bool = True) -> Fault:
        return cls("drop_after_body", deliver=deliver)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls("slow", delay=seconds)


_BAD_KEY = "The provided authorization grant is invalid, expired, or revoked"


def _errors(message: str, where: str | None = None) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": where, "help": None}]}


# -- the server --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    """One accepted request: its body (when recorded), addresses and answer."""

    body: dict[str, Any] | None
    recipients: tuple[str, ...]
    message_id: str
    status: int


@dataclass(frozen=True)
class Exchange:
    """One request seen, accepted or not: what was answered (a status or a fault kind)."""

    outcome: int | str
    recipients: int


class FakeSendGrid:
    """The server. Use as a context manager, or call :meth:`start` and :meth:`close`."""

    def __init__(
        self,
        api_key: str = DEFAULT_KEY,
        *,
        validate: bool = True,
        record: bool = True,
        port: int = 0,
        schema_path: Path | None = None,
        on_accept: Callable[[ReceivedRequest], None] | None = None,
        fault_rate: float = 0.0,
        random_faults: Sequence[Fault] = (),
        seed: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.fault_rate = fault_rate
        self.random_faults = tuple(random_faults)
        self._random = random.Random(seed)
        self.validate = validate
        self.record = record
        self.on_accept = on_accept
        self.validator = MailSendValidator(schema_path) if validate else None
        self.requests: list[ReceivedRequest] = []
        self.exchanges: list[Exchange] = []
        self.rejected: list[dict[str, Any]] = []
        self.accepted_requests = 0
        self.accepted_recipients = 0
        self._faults: deque[Fault] = deque()
        self._down_until = 0.0
        self._down_fault: Fault | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the client as ``host`` (``delivery.sendgrid.host``)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeSendGrid:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeSendGrid:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def script(self, *faults: Fault) -> None:
        """Answer the next requests with these faults, one each, then normally again."""
        with self._lock:
            self._faults.extend(faults)

    def outage(self, seconds: float, status: int = 503, retry_after: float | None = None) -> None:
        """Answer every request with ``status`` for the next ``seconds`` (a provider outage)."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
            self._down_fault = Fault.server_error(status, retry_after)

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self.exchanges.clear()
            self.rejected.clear()
            self.accepted_requests = self.accepted_recipients = 0

    def recipients(self) -> list[str]:
        """Every address of every accepted request, in order (duplicates across requests kept)."""
        with self._lock:
            return [email for req in self.requests for email in req.recipients]

    # -- called by the handler -----------------------------------------------------------

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._down_fault is not None and time.monotonic() < self._down_until:
                return self._down_fault
            if self._faults:
                return self._faults.popleft()
            if self.random_faults and self._random.random() < self.fault_rate:
                return self._random.choice(self.random_faults)
            return None

    def _note(self, outcome: int | str, recipients: int) -> None:
        with self._lock:
            self.exchanges.append(Exchange(outcome, recipients))

    def _accept(self, body: dict[str, Any] | None, raw: bytes, status: int) -> str:
        message_id = secrets.token_urlsafe(16)[:22]
        if body is not None:
            addresses = tuple(_addresses(body))
            count = len(addresses)
        else:
            addresses = ()
            count = len(_TO_KEY.findall(raw))
        request = ReceivedRequest(body if self.record else None, addresses, message_id, status)
        with self._lock:
            self.accepted_requests += 1
            self.accepted_recipients += count
            self.exchanges.append(Exchange(status, count))
            if self.record:
                self.requests.append(request)
        if self.on_accept is not None:
            self.on_accept(request)
        return message_id

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)


def _addresses(body: dict[str, Any]) -> Iterator[str]:
    for p in body.get("personalizations") or ():
        if isinstance(p, dict):
            for kind in ("to", "cc", "bcc"):
                for entry in p.get(kind) or ():
                    if isinstance(entry, dict) and isinstance(entry.get("email"), str):
                        yield entry["email"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    fake: FakeSendGrid


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _reset(self) -> None:
        """Drop the connection with a TCP reset, whatever is left unread."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(411, _errors("Content-Length required"))
            return None
        raw = self.rfile.read(int(length))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        return raw

    def do_GET(self) -> None:
        self._send(405, _errors("method not allowed"))

    def do_POST(self) -> None:
        fake = self.server.fake
        try:
            self._post(fake)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _post(self, fake: FakeSendGrid) -> None:
        if self.path.split("?", 1)[0] != MAIL_SEND:
            self._body()
            self._send(404, _errors("not found"))
            return
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            self._body()
            fake._note(401, 0)
            self._send(401, _errors(_BAD_KEY))
            return
        content_type = self.headers.get("Content-Type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            self._body()
            fake._note(415, 0)
            self._send(
                415, _errors(f"Content-Type must be application/json (got {content_type!r})")
            )
            return
        fault = fake._next_fault()
        if fault is not None and fault.kind == "drop_before_body":
            fake._note(fault.kind, 0)
            self._reset()
            return
        raw = self._body()
        if raw is None:
            return
        if fault is not None and fault.kind == "reply":
            fake._note(fault.status, 0)
            self._send(fault.status, fault.body, fault.headers)
            return
        body: dict[str, Any] | None = None
        if fake.validate or fake.record or fake.on_accept is not None:
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                fake._note(400, 0)
                self._send(400, _errors(f"Bad Request: the body is not JSON ({exc})"))
                return
            if fake.validator is not None:
                errors = fake.validator.errors(parsed)
                if errors:
                    with fake._lock:
                        fake.rejected.append({"body": parsed, "errors": errors})
                    fake._note(400, 0)
                    self._send(400, {"errors": errors})
                    return
            body = parsed if isinstance(parsed, dict) else None
        sandbox = bool(
            body is not None
            and ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable")
        )
        status = 200 if sandbox else 202
        if fault is not None and fault.kind == "drop_after_body":
            if fault.deliver:
                fake._accept(body, raw, status)
            fake._note(fault.kind, 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        message_id = fake._accept(body, raw, status)
        if fault is not None and fault.kind == "slow":
            fake._wait(fault.delay)
        self._send(status, None, {"X-Message-Id": message_id})


def parse_fault(spec: str) -> Fault:
    """A fault from a short spec: ``429[:retry_after]``, ``5xx status[:retry_after]``,
    ``401``, ``403``, ``413``, ``drop_before_body``, ``drop_after_body[:lost]``
    (``lost``: not delivered), ``slow:SECONDS``."""
    name, _, arg = spec.strip().partition(":")
    if name == "429":
        return Fault.rate_limited(float(arg) if arg else 1)
    if name.isdigit() and int(name) >= 500:
        return Fault.server_error(int(name), float(arg) if arg else None)
    simple = {"401": Fault.unauthorized, "403": Fault.forbidden, "413": Fault.too_large}
    if name in simple:
        return simple[name]()
    if name == "drop_before_body":
        return Fault.drop_before_body()
    if name == "drop_after_body":
        return Fault.drop_after_body(deliver=arg != "lost")
    if name == "slow":
        return Fault.slow(float(arg or 5))
    raise ValueError(f"unknown fault {spec!r}")


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (connecting to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted; print the base URL on the first line of stdout."""
    parser = argparse.ArgumentParser(description="A SendGrid stand-in on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default=DEFAULT_KEY, help="the API key it accepts")
    parser.add_argument("--no-validate", action="store_true", help="skip schema validation")
    parser.add_argument(
        "--record-to", type=Path, help="append each accepted address to this file, one a line"
    )
    parser.add_argument(
        "--fault", action="append", default=[], help="answer the next request so (repeatable)"
    )
    parser.add_argument("--fault-rate", type=float, default=0.0, help="chance of a random fault")
    parser.add_argument(
        "--random-fault", action="append", default=[], help="a fault to pick at random"
    )
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    sink = args.record_to.open("a", encoding="utf-8") if args.record_to else None
    sink_lock = threading.Lock()

    def record(request: ReceivedRequest) -> None:
        if sink is not None and request.recipients:
            with sink_lock:
                sink.write("".join(f"{email}\n" for email in request.recipients))
                sink.flush()

    server = FakeSendGrid(
        args.key,
        validate=not args.no_validate,
        record=False,
        port=args.port,
        on_accept=record,
        fault_rate=args.fault_rate,
        random_faults=[parse_fault(f) for f in args.random_fault],
        seed=args.seed,
    )
    server.script(*(parse_fault(f) for f in args.fault))
    print(server.url, flush=True)
    try:
        server._httpd.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()
        if sink is not None:
            sink.close()


if __name__ == "__main__":
    main()
