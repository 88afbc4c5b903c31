"""Stand-ins for outside services, shared by the tests and the benchmarks."""

from tests.fakes.sendgrid_server import (
    DEFAULT_KEY,
    FakeSendGrid,
    Fault,
    MailSendValidator,
    ReceivedRequest,
    closed_port,
    load_mail_send_schema,
)

__all__ = [
    "DEFAULT_KEY",
    "FakeSendGrid",
    "Fault",
    "MailSendValidator",
    "ReceivedRequest",
    "closed_port",
    "load_mail_send_schema",
]
