"""Configuration: pydantic models of config.yaml, environment overrides, located errors.

Every key can be overridden as ``NEWSLETTER_<SECTION>__<KEY>`` (nested with ``__``).
Secrets are never read from the file: see :class:`Secrets`.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from newsletter.errors import ConfigError
from newsletter.models import EDITIONS, Edition, HttpUrl

ENV_PREFIX = "NEWSLETTER_"
DEFAULT_CONFIG = Path("config.yaml")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> Any:
    """Turn ``"3h"``, ``"90m"``, ``"1d"`` or a number of seconds into a timedelta."""
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return timedelta(seconds=value)
        if isinstance(value, str):
            match = _DURATION.match(value)
            if match:
                return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
            raise ValueError(f"must be a duration such as 30m, 3h or 1d (got {value!r})")
    except (OverflowError, ValueError) as exc:
        if "must be a duration" in str(exc):
            raise
        # timedelta refuses huge (1e20), infinite and NaN amounts with its own words.
        raise ValueError(f"must be a duration of at most a year (got {value!r})") from None
    return value


def _human(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


def bounded(low: timedelta, high: timedelta, *, low_open: bool = False) -> AfterValidator:
    """A check that a duration lies in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def check(span: timedelta) -> timedelta:
        if span < low or (low_open and span == low) or span > high:
            side = "more than" if low_open else "at least"
            raise ValueError(
                f"must be {side} {_human(low)} and at most {_human(high)} (got {_human(span)})"
            )
        return span

    return AfterValidator(check)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
_DAY = timedelta(days=1)
_ZERO = timedelta(0)
PositiveDuration = Annotated[Duration, bounded(_ZERO, timedelta(days=365), low_open=True)]
"""A duration above zero and at most a year."""


class Section(BaseModel):
    """Base for config sections: unknown keys are errors (they are usually typos)."""

    model_config = ConfigDict(extra="forbid")


class Sender(Section):
    email: str
    name: str = "Almanac"

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        from email_validator import EmailNotValidError, validate_email

        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"is not a valid email address ({exc})") from None


class SiteConfig(Section):
    name: str = "Call Me Almanac"
    url: HttpUrl = "https://almanac.example"
    # A known-valid constant: constructed without validation, so loading a config that keeps
    # the default sender never imports email_validator (~20 ms).
    sender: Sender = Sender.model_construct(email="newsletter@almanac.example", name="Almanac")
    reply_to: str | None = None
    postal_address: str = ""
    editors: list[str] = Field(default_factory=list)
    team: list[str] = Field(default_factory=list)
    """More addresses that may receive [TEST] copies from the edit page (besides editors)."""
    first_issue: date | None = None


class EditionConfig(Section):
    title: str = ""
    schedule: str
    timezone: str = "Europe/London"
    assemble_lead: Annotated[Duration, bounded(_ZERO, timedelta(days=6))] = timedelta(hours=3)
    max_stories: int = Field(default=10, ge=1, le=50)
    min_score: float = Field(default=5, ge=0, le=10)
    min_stories: int = Field(default=1, ge=0, le=50)
    """Fewer stories than this makes the pre-send checks warn (none at all always fails)."""
    auto_approve: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"is not an IANA time zone (got {value!r})") from None
        return value

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            trigger = CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"is not a cron expression ({exc})") from None
        # "0 7 31 2 *" (31 February) parses but never fires: the edition would never go out.
        start = datetime(2026, 1, 1, tzinfo=UTC)
        if (
            trigger.get_next_fire_time(None, start) is None
            or trigger.get_next_fire_time(None, start + timedelta(days=366 * 4)) is None
        ):
            raise ValueError(f"never fires ({value!r} names no real date)")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_EDITION_DEFAULTS: dict[str, dict[str, Any]] = {
    "midweek": {
        "title": "Midweek",
        "schedule": "0 7 * * wed",
        "max_stories": 6,
        "min_score": 6,
        "min_stories": 3,
    },
    "sunday": {
        "title": "Sunday",
        "schedule": "0 8 * * sun",
        "max_stories": 10,
        "min_score": 5,
        "min_stories": 5,
    },
}


def _default_editions() -> dict[Edition, EditionConfig]:
    return {
        "midweek": EditionConfig(**_EDITION_DEFAULTS["midweek"]),
        "sunday": EditionConfig(**_EDITION_DEFAULTS["sunday"]),
    }


class CurationConfig(Section):
    recency_half_life: PositiveDuration = timedelta(hours=96)
    source_cap: int = Field(default=3, ge=1, le=50)
    diversity: float = Field(default=0.3, ge=0, le=1)
    cluster_max_gap: PositiveDuration = timedelta(hours=72)
    min_merge_confidence: float | None = Field(default=None, gt=0, lt=1)
    """Mean same-story probability from which two groups merge; None: the model's own."""
    min_pair_confidence: float | None = Field(default=None, gt=0, lt=1)
    """Probability from which a guide is paired; None: the model's own (calibrated) one."""
    low_confidence: float = Field(default=0.7, gt=0, le=1)
    """Pairings and merges below this are flagged for an editor's look."""
    model: str = "curation-model.json"
    """The model ``newsletter curation train`` writes; until it exists, the shipped one."""
    training: list[str] = Field(default_factory=lambda: ["content/labelled/*"])
    """Folders of labelled content (news, guides/, labels.json) the model learns from."""
    cache_dir: str = ".cache/curation"
    """Where the parsed guides and their feature index are kept between runs (redone when
    any guide file changes)."""
    topic_aliases: dict[str, str] = Field(default_factory=dict)


class ContentConfig(Section):
    news: list[str] = Field(default_factory=lambda: ["content/*.jsonl"])
    guides: str = "content/guides"
    default_score: float = Field(default=5, ge=0, le=10)
    source_scores: dict[str, float] = Field(default_factory=dict)
    fetch_timeout: float = Field(default=15, gt=0, le=600)
    max_feed_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=1024**3)


STORAGE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")


class StorageConfig(Section):
    url: str = "sqlite:///newsletter.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.partition("://")[0].lower() if "://" in value else ""
        if scheme not in STORAGE_SCHEMES:
            shown = f"{scheme}://" if scheme else repr(value[:40])
            raise ValueError(f"must be a sqlite:/// or postgresql:// URL (got {shown})")
        return value


class ArchiveConfig(Section):
    dir: str = "issues"


class SendGridConfig(Section):
    host: HttpUrl = "https://api.sendgrid.com"
    sandbox_mode: bool = False
    timeout: float = Field(default=30, gt=0, le=600)
    event_public_key: str | None = None
    event_max_age: Annotated[Duration, bounded(timedelta(seconds=1), _DAY)] = timedelta(minutes=5)
    ip_pool: str | None = None


class SmtpConfig(Section):
    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    timeout: float = Field(default=30, gt=0, le=600)
    ca_file: str | None = None
    """A PEM bundle to trust instead of the system's (a server with its own certificate)."""


class OutboxConfig(Section):
    dir: str = "outbox"


class CeleryConfig(Section):
    """The optional Celery backend (``delivery.backend: celery``): workers on several machines.

    A broker URL with a password belongs in the environment
    (``NEWSLETTER_DELIVERY__CELERY__BROKER_URL``), not in the file.
    """

    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str | None = None
    """Where workers leave each batch's outcome (default: the broker)."""
    queue: str = "newsletter-send"
    task_time_limit: float = Field(default=900, gt=0, le=86400)
    """Seconds one batch may take on a worker (retries and rate-limit waits included)."""
    stall_timeout: float | None = Field(default=None, gt=0, le=86400)
    """Seconds without any batch finishing before in-flight batches count as lost
    (default: task_time_limit)."""
    max_in_flight: int = Field(default=16, ge=1, le=10000)
    """Batches enqueued and not yet finished; Ctrl-C stops at most these."""
    poll_interval: float = Field(default=0.5, gt=0, le=60)
    heartbeat_interval: float = Field(default=10, gt=0, le=60)
    """Seconds between a worker's heartbeats while it posts a batch."""
    heartbeat_timeout: float = Field(default=45, gt=0, le=600)
    """Seconds without a heartbeat from a started batch before its worker counts as dead."""
    shared_rate_limit: bool = True
    """With a Redis broker, ``delivery.rate_limit`` holds for all workers together (else per
    worker process)."""

    @model_validator(mode="after")
    def _heartbeats_fit(self) -> CeleryConfig:
        if self.heartbeat_timeout < 2 * self.heartbeat_interval:
            raise ValueError(
                "delivery.celery.heartbeat_timeout must be at least twice heartbeat_interval "
                f"(got {self.heartbeat_timeout:g}s and {self.heartbeat_interval:g}s)"
            )
        return self


class DeliveryConfig(Section):
    provider: Literal["outbox", "sendgrid", "smtp"] = "outbox"
    backend: Literal["threads", "celery"] = "threads"
    batch_size: int = Field(default=1000, ge=1, le=1000)
    concurrency: int = Field(default=4, ge=1, le=64)
    rate_limit: float = Field(default=0, ge=0, le=1_000_000)
    max_attempts: int = Field(default=6, ge=1, le=100)
    retry_base_delay: float = Field(default=1.0, gt=0, le=3600)
    retry_max_delay: float = Field(default=60.0, gt=0, le=3600)
    retry_window: Annotated[Duration, bounded(_ZERO, timedelta(days=2))] = timedelta(minutes=30)
    """How long one send keeps retrying transient refusals (429, 5xx, connection refused)
    before leaving the rest ``deferred`` for the next run."""
    reconcile_after: Annotated[Duration, bounded(_ZERO, timedelta(days=2))] = timedelta(minutes=15)
    """How old an uncertain batch must be before ``--resend-uncertain`` resends it (the
    provider's events confirm what it had accepted first)."""
    unsubscribe_mailto: str | None = None
    sendgrid: SendGridConfig = SendGridConfig()
    smtp: SmtpConfig = SmtpConfig()
    outbox: OutboxConfig = OutboxConfig()
    celery: CeleryConfig = CeleryConfig()


class UtmConfig(Section):
    enabled: bool = True
    source: str = "almanac"
    medium: str = "email"
    campaign: str = "{edition}-{date}"


class RenderingConfig(Section):
    utm: UtmConfig = UtmConfig()
    summary_max_chars: int = Field(default=300, ge=80, le=5000)
    """Email summaries are cut at the last sentence boundary within this; web.html keeps all."""
    editors_pick_score: float = Field(default=9, ge=0, le=10)
    """Stories scored at least this carry an "Editor's pick" label instead of a bare score."""


class WebConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: HttpUrl = "https://almanac.example/newsletter"


def _between(value: timedelta, low: timedelta, high: timedelta) -> timedelta:
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high} (got {value})")
    return value


class SignupConfig(Section):
    """Public signup (double opt-in) and its anti-abuse limits; see README "Signup"."""

    confirm_ttl: Duration = timedelta(hours=72)
    """How long a confirmation link stays valid; unconfirmed new addresses are purged after."""
    rate_per_ip: int = Field(default=10, ge=1, le=1_000_000)
    """Signup requests one IP address may make per ``rate_window`` (kept in the store)."""
    rate_window: Duration = timedelta(hours=1)
    address_interval: Duration = timedelta(minutes=15)
    """At most one email (confirmation or "already subscribed") per address this often..."""
    address_per_week: int = Field(default=3, ge=1, le=100)
    """...and at most this many per address in seven days."""
    min_submit_time: Duration = timedelta(seconds=3)
    """The signup page must have been open this long before its form is posted."""
    form_max_age: Duration = timedelta(hours=24)
    allowed_origins: list[str] = Field(default_factory=list)
    """Other sites (``https://host``) whose pages may post to /api/subscribe (CORS)."""
    challenge: str | None = None
    """Optional ``module:callable`` proof-of-work / CAPTCHA check (see newsletter.signup)."""
    notify_active: bool = True
    """An active address that signs up again gets a "you're already subscribed" email."""
    consent_text_version: str = Field(default="2026-12-01", min_length=1, max_length=40)
    """Recorded with every consent; change it whenever the signup page's wording changes."""

    @field_validator("confirm_ttl")
    @classmethod
    def _ttl_bounds(cls, value: timedelta) -> timedelta:
        return _between(value, timedelta(minutes=10), timedelta(days=30))

    @field_validator("rate_window", "address_interval")
    @classmethod
    def _window_bounds(cls, value: timedelta) -> timedelta:
        return _between(value, timedelta(seconds=1), timedelta(days=7))

    @field_validator("min_submit_time")
    @classmethod
    def _min_time_bounds(cls, value: timedelta) -> timedelta:
        return _between(value, timedelta(0), timedelta(minutes=10))

    @field_validator("form_max_age")
    @classmethod
    def _max_age_bounds(cls, value: timedelta) -> timedelta:
        return _between(value, timedelta(minutes=1), timedelta(days=30))

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        out = []
        for origin in value:
            clean = origin.strip().rstrip("/").lower()
            if not re.match(r"^https?://[a-z0-9.-]+(:\d+)?$", clean):
                raise ValueError(f"must be origins such as https://example.com (got {origin!r})")
            out.append(clean)
        return out

    @field_validator("challenge")
    @classmethod
    def _challenge_path(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[\w.]+:[\w]+$", value):
            raise ValueError(f"must be module:callable (got {value!r})")
        return value


class TrackingConfig(Section):
    """What the report can see: click tracking, open tracking and bot heuristics."""

    clicks: Literal["provider", "own", "off"] = "provider"
    """provider: SendGrid rewrites links; own: links go through our signed /r/<token>
    redirect (works for SMTP and outbox too); off: links go out untouched."""
    opens: bool = False
    """Ask SendGrid for an open pixel (per payload). Opens are unreliable (Apple MPP)."""
    bot_after_delivery: float = Field(default=10, ge=0, le=3600)
    """A first click this many seconds or less after delivery is a suspected bot."""
    bot_burst_links: int = Field(default=4, ge=2, le=1000)
    """This many distinct links clicked ..."""
    bot_burst_seconds: float = Field(default=10, ge=0, le=3600)
    """... within this many seconds: a suspected bot (a link scanner)."""


class AlertsConfig(Section):
    """When the editors hear that an issue's complaints or bounces pass the line."""

    complaint_rate: float = Field(default=0.001, gt=0, le=1)
    bounce_rate: float = Field(default=0.02, gt=0, le=1)
    min_delivered: int = Field(default=100, ge=1)
    """No alert before this many deliveries (one complaint in ten is noise, not a trend)."""


class SchedulingConfig(Section):
    misfire_grace: Annotated[Duration, bounded(_ZERO, timedelta(days=7))] = timedelta(hours=1)
    recheck: Annotated[Duration, bounded(timedelta(seconds=1), _DAY)] = timedelta(minutes=5)
    lease: Annotated[Duration, bounded(timedelta(seconds=5), _DAY)] = timedelta(minutes=10)
    log_json: bool = False


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_config`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    site: SiteConfig = SiteConfig()
    editions: dict[Edition, EditionConfig] = Field(default_factory=_default_editions)
    curation: CurationConfig = CurationConfig()
    content: ContentConfig = ContentConfig()
    storage: StorageConfig = StorageConfig()
    archive: ArchiveConfig = ArchiveConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    rendering: RenderingConfig = RenderingConfig()
    web: WebConfig = WebConfig()
    scheduling: SchedulingConfig = SchedulingConfig()
    signup: SignupConfig = SignupConfig()
    tracking: TrackingConfig = TrackingConfig()
    alerts: AlertsConfig = AlertsConfig()

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str = PrivateAttr(default="config.yaml")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file; the file is passed as init kwargs.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _both_editions(self) -> Settings:
        missing = [e for e in EDITIONS if e not in self.editions]
        if missing:
            raise ValueError(f"editions: missing {', '.join(missing)}")
        for name, edition in self.editions.items():
            if not edition.title:
                edition.title = name.capitalize()
        return self

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the config are resolved against."""
        return self._base_dir

    @property
    def source(self) -> str:
        """Where the config came from, for messages."""
        return self._source

    def path(self, value: str | Path) -> Path:
        """Resolve a path from the config against the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self._base_dir / p

    @property
    def archive_dir(self) -> Path:
        return self.path(self.archive.dir)

    @property
    def storage_url(self) -> str:
        """The SQLAlchemy URL, with a relative SQLite path resolved like other paths."""
        url = self.storage.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.path(url[len(prefix) :]))
        return url


class Secrets(BaseModel):
    """Secrets, read only from the environment and never written anywhere."""

    sendgrid_api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    smtp_password: SecretStr | None = None
    editor_user: str | None = None
    editor_password: SecretStr | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Secrets:
        env = dict(os.environ if env is None else env)

        def get(name: str) -> str | None:
            return env.get(name) or None

        return cls(
            sendgrid_api_key=get("SENDGRID_API_KEY"),
            secret_key=get("NEWSLETTER_SECRET_KEY"),
            smtp_password=get("NEWSLETTER_SMTP_PASSWORD"),
            editor_user=get("NEWSLETTER_EDITOR_USER"),
            editor_password=get("NEWSLETTER_EDITOR_PASSWORD"),
        )


# Environment names that hold secrets: they must not be mistaken for config overrides.
_SECRET_ENV = {
    "NEWSLETTER_SECRET_KEY",
    "NEWSLETTER_SMTP_PASSWORD",
    "NEWSLETTER_EDITOR_USER",
    "NEWSLETTER_EDITOR_PASSWORD",
    "NEWSLETTER_CONFIG",
    "NEWSLETTER_DEBUG",
}


def _describe(err: dict[str, Any]) -> str:
    """Turn one pydantic error into a short reason with the offending value."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    got = err.get("input")
    shown = repr(got) if isinstance(got, str) else got
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": ("at least", "ge"),
            "greater_than": ("more than", "gt"),
            "less_than_equal": ("at most", "le"),
            "less_than": ("less than", "lt"),
        }[kind]
        return f"must be {words[0]} {ctx.get(words[1])} (got {shown})"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; secrets belong in the environment)"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {shown})"
    if kind == "value_error":
        return str(ctx.get("error", err.get("msg", "")))
    msg = str(err.get("msg", "invalid value"))
    return f"{msg[0].lower()}{msg[1:]} (got {shown})" if got is not None else msg


def _non_string_key(data: Any, path: str = "") -> str | None:
    """The dotted path of the first key that is not a string (YAML reads ``1:`` as 1)."""
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                return here
            found = _non_string_key(value, here)
            if found is not None:
                return found
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found = _non_string_key(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _env_name(loc: tuple[Any, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc)


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load and validate the configuration.

    ``path`` defaults to ``$NEWSLETTER_CONFIG`` or ``./config.yaml``. A missing default file means
    built-in defaults; a missing explicit file, bad YAML or an invalid key raises
    :class:`ConfigError` with one line naming the file, the key path and the reason.
    """
    environ = os.environ if env is None else env
    explicit = path is not None or bool(environ.get("NEWSLETTER_CONFIG"))
    cfg_path = Path(path or environ.get("NEWSLETTER_CONFIG") or DEFAULT_CONFIG)
    data: Any = {}
    if cfg_path.exists():
        try:
            data = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as exc:
            raw = cfg_path.read_bytes()
            line = raw[: exc.start].count(b"\n") + 1
            raise ConfigError(
                f"{cfg_path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{cfg_path}:{mark.line + 1}" if mark is not None else str(cfg_path)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{where}: not valid YAML ({problem})") from None
        except OSError as exc:
            raise ConfigError(f"{cfg_path}: cannot read ({exc.strerror})") from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"{cfg_path}: must be a mapping of sections (got {type(data).__name__})"
            )
        bad_key = _non_string_key(data)
        if bad_key is not None:
            raise ConfigError(
                f"{cfg_path}: {bad_key}: keys must be names (quote it if you mean it)"
            )
    elif explicit:
        raise ConfigError(f"{cfg_path}: config file not found")

    editions = data.get("editions")
    if editions is None or isinstance(editions, dict):
        # Start from the built-in editions so that an environment override of one key
        # (NEWSLETTER_EDITIONS__SUNDAY__MAX_STORIES) does not drop the rest of the edition.
        merged = {name: dict(values) for name, values in _EDITION_DEFAULTS.items()}
        for name, values in (editions or {}).items():
            merged[name] = (
                {**merged.get(name, {}), **values} if isinstance(values, dict) else values
            )
        data = {**data, "editions": merged}

    saved = None
    if env is not None:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
    hidden = {k: os.environ.pop(k) for k in list(os.environ) if k.upper() in _SECRET_ENV}
    try:
        settings = Settings(**data)
    except SettingsError as exc:
        # An environment override that is not valid JSON for a nested section.
        names = sorted(k for k in os.environ if k.upper().startswith(ENV_PREFIX))
        where = ", ".join(names[:3]) or "the environment"
        raise ConfigError(f"{where}: {str(exc).splitlines()[0]}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        key = ".".join(str(p) for p in loc) or "(top level)"
        env_name = _env_name(loc)
        where = env_name if env_name in {k.upper() for k in os.environ} else str(cfg_path)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{where}: {key}: {_describe(dict(err))}{more}") from None
    finally:
        os.environ.update(hidden)
        if saved is not None:
            os.environ.clear()
            os.environ.update(saved)
    settings._base_dir = cfg_path.resolve().parent
    settings._source = str(cfg_path)
    return settings
