"""Public signup with double opt-in: requests, confirmation, emails, anti-abuse hooks."""

from newsletter.signup.challenge import SignupAttempt, SignupChallenge, load_challenge, passes
from newsletter.signup.flow import (
    ConfirmOutcome,
    MailJob,
    SignupRequest,
    confirm,
    look_up,
    request_signup,
    resend,
)
from newsletter.signup.mails import MailQueue, SignupMailer
from newsletter.signup.snippet import snippet_html
from newsletter.signup.tokens import make_stamp, new_token, plausible_token, stamp_ok, stamp_state

__all__ = [
    "ConfirmOutcome",
    "MailJob",
    "MailQueue",
    "SignupAttempt",
    "SignupChallenge",
    "SignupMailer",
    "SignupRequest",
    "confirm",
    "load_challenge",
    "look_up",
    "make_stamp",
    "new_token",
    "passes",
    "plausible_token",
    "request_signup",
    "resend",
    "snippet_html",
    "stamp_ok",
    "stamp_state",
]
