"""Domain models: the typed data that flows from one stage to the next."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
)

Edition = Literal["midweek", "sunday"]
EDITIONS: tuple[Edition, ...] = ("midweek", "sunday")
IssueStatus = Literal["draft", "approved", "sending", "sent", "partial", "cancelled"]
ISSUE_STATUSES: tuple[IssueStatus, ...] = (
    "draft",
    "approved",
    "sending",
    "sent",
    "partial",
    "cancelled",
)
"""``partial``: the send finished with failed or uncertain recipients to look at."""
Level = Literal["Beginner", "Intermediate", "Advanced"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# No whitespace, control characters, lone surrogates or "@" (user info) in the fast path.
_NOT_URL_CHARS = r"\s@\x00-\x1f\x7f-\x9f\ud800-\udfff"
_PLAIN_HTTP_URL = re.compile(rf"https?://[^/?#{_NOT_URL_CHARS}][^{_NOT_URL_CHARS}]*\Z")
_WHITESPACE = re.compile(r"\s")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _check_brackets(value: str) -> None:
    """Brackets are for an IPv6 host only: "http://[x/" is no URL (urlsplit raises on it,
    so every later stage that reads the link would fail)."""
    try:
        urlsplit(value).hostname  # noqa: B018 - parsing is the check
    except ValueError:
        raise ValueError("url has an invalid host (a broken IPv6 address)") from None


def check_http_url(value: str) -> str:
    """Accept only absolute http(s) URLs with a host; anything else is rejected."""
    value = value.strip()
    if "[" in value or "]" in value:
        _check_brackets(value)
    if _PLAIN_HTTP_URL.match(value):  # the common case, decided by one regex
        return value
    match = _SCHEME.match(value)
    if not match:
        raise ValueError("url must be an absolute http(s) URL")
    scheme = match.group(1).lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"url scheme must be http or https (got {scheme})")
    rest = value[len(scheme) + 1 :]
    if not rest.startswith("//") or len(rest) <= 2 or rest[2] in "/?#":
        raise ValueError("url must be an absolute http(s) URL with a host")
    if _WHITESPACE.search(value):
        raise ValueError("url must not contain whitespace")
    if _CONTROL.search(value):
        raise ValueError("url must not contain control characters")
    if "@" in rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]:
        # A user name or password in a link would be mailed to every reader.
        raise ValueError("url must not contain a user name or password")
    return value


def _not_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("is empty (only whitespace)")
    return stripped


_ISO_START = re.compile(r"\s*\d{4}-\d{2}-\d{2}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _iso_datetime_text(value: object) -> object:
    """Only ISO 8601 text (or a datetime) is a date-time: no Unix numbers, no "last Tuesday"."""
    if isinstance(value, str) and _ISO_START.match(value):
        return value.strip()
    if isinstance(value, datetime):
        return value
    raise ValueError(f"is not an ISO 8601 date-time ({_short(value)})")


def _topic_list(value: object) -> object:
    """``null`` topics mean none; anything else must be a list of strings (checked after)."""
    return () if value is None else value


def _clean_topics(value: tuple[str, ...]) -> tuple[str, ...]:
    """Topics trimmed, blank ones dropped."""
    return tuple([topic for topic in map(str.strip, value) if topic])


HttpUrl = Annotated[str, AfterValidator(check_http_url)]
Timestamp = Annotated[
    AwareDatetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json")
]
"""An aware datetime written as ISO 8601 with its offset (``+00:00``, as FORMAT.md shows)."""
IsoDatetime = Annotated[Timestamp, BeforeValidator(_iso_datetime_text)]
Score = Annotated[float, Strict(), Field(ge=0, le=10, allow_inf_nan=False)]
"""A score 0-10: a JSON number only (a bool or the text "7" is not a score)."""
Topics = Annotated[tuple[str, ...], BeforeValidator(_topic_list), AfterValidator(_clean_topics)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=200)]
NonBlank = Annotated[str, AfterValidator(_not_blank)]


class Model(BaseModel):
    """Base for domain models: frozen, and unknown keys are rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class NewsItem(Model):
    """One scored news item (FORMAT.md)."""

    id: Slug
    title: Annotated[NonBlank, StringConstraints(max_length=300)]
    url: HttpUrl
    source: NonBlank
    published_at: IsoDatetime
    score: Score
    summary: Annotated[str, StringConstraints(max_length=5000)]
    topics: Topics = ()


class Guide(Model):
    """One explainer guide: front matter plus its Markdown body."""

    slug: Slug
    title: NonBlank
    level: Level
    url: HttpUrl
    updated_at: date
    topics: tuple[str, ...] = ()
    tldr: str = ""
    takeaways: tuple[str, ...] = ()
    body: str = ""


class Catalog(Model):
    """Everything the curation step may choose from."""

    news: tuple[NewsItem, ...] = ()
    guides: tuple[Guide, ...] = ()


class Problem(Model):
    """A rejected input: where it was and why. Printed as ``path:line: reason``."""

    path: str
    line: int | None = None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


class AlsoRef(Model):
    """Another source that covered the same story."""

    source: str
    url: HttpUrl
    id: str


class GuideRef(Model):
    """The guide paired with a story, and why."""

    slug: str
    title: str
    url: HttpUrl
    reason: str
    level: Level | None = None
    relevance: float | None = None
    confidence: float | None = None
    """Calibrated probability (0-1) that this guide is the right one for the story."""
    context: str | None = None
    """The guide's line (a takeaway or TL;DR sentence) that explains this story; editable."""


class Story(Model):
    """A story in an issue: its representative item, the other coverage, its guide."""

    item: NewsItem
    also: tuple[AlsoRef, ...] = ()
    guide: GuideRef | None = None
    merge_confidence: float | None = None
    """For a story of several items: calibrated probability that they are one event."""


class GuideCard(Model):
    """A guide featured in the issue ("Guides of the week")."""

    slug: str
    title: str
    url: HttpUrl
    level: Level
    tldr: str = ""


class Window(Model):
    """The span of publication times an issue covers: (start, end]."""

    start: Timestamp
    end: Timestamp


class IssuePlan(BaseModel):
    """The reviewable record of an issue, saved as ``issues/<id>/issue.json``.

    Not frozen: editors change ``subject``, ``preheader`` and ``status``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str
    edition: Edition
    slot: Timestamp
    window: Window
    subject: str
    preheader: str
    status: IssueStatus = "draft"
    note: str | None = None
    """The editor's lede (Markdown), shown under the greeting; optional."""
    number: int | None = None
    stories: list[Story] = Field(default_factory=list)
    guides: list[GuideCard] = Field(default_factory=list)
    inputs_digest: str = ""


class Overrides(Model):
    """``issues/<id>/overrides.json``: the editor's decisions for one issue.

    Kept across re-assembly and used as curation training data (``newsletter curation
    train``). ``guide`` maps an item id to the slug the editor chose, or ``None`` for "no
    guide"; ``merge`` lists pairs of item ids that are one story, ``split`` pairs that are not.
    """

    pin: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    guide: dict[str, str | None] = Field(default_factory=dict)
    merge: tuple[tuple[str, str], ...] = ()
    split: tuple[tuple[str, str], ...] = ()


def issue_id(slot: datetime, edition: Edition) -> str:
    """The id of the issue for a slot: ``<YYYY-MM-DD>-<edition>`` in the slot's own zone."""
    return f"{slot.date().isoformat()}-{edition}"
