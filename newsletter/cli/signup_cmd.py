"""``newsletter signup snippet`` and ``newsletter subscribers show EMAIL``."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.common import ConfigOpt, JsonOpt, console, print_json, settings, want_json
from newsletter.errors import InputError

signup_app = typer.Typer(
    name="signup", help="The public signup form (double opt-in).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    from newsletter.cli.subscribers_cmd import subscribers_app

    app.add_typer(signup_app)
    subscribers_app.command("show")(show_command)


@signup_app.command("snippet")
def snippet_command(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Option("--source", help="Recorded with each signup (where the form is).")
    ] = "guide",
    config: ConfigOpt = None,
) -> None:
    """Print the HTML signup form to embed in guide pages (it posts to /subscribe)."""
    from newsletter.signup import snippet_html

    typer.echo(snippet_html(settings(ctx, config), source=source), nl=False)


@signup_app.command("purge")
def purge_command(ctx: typer.Context, config: ConfigOpt = None, json: JsonOpt = False) -> None:
    """Remove expired pending signups now (the scheduler does this every hour)."""
    from newsletter.store import open_store
    from newsletter.store.signups import purge_expired

    cfg = settings(ctx, config)
    counts = purge_expired(open_store(cfg), cfg.signup.confirm_ttl)
    if want_json(ctx, json):
        print_json(counts.to_json())
    else:
        console.print(
            f"purged {counts.pending} pending signups, {counts.tokens} old links, "
            f"{counts.hits} old rate-limit hits"
        )


def show_command(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The address to show.")],
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Status, editions, consent records and what was sent to one address (pending ones too)."""
    from newsletter.store import open_store
    from newsletter.store.profile import subscriber_profile

    profile = subscriber_profile(open_store(settings(ctx, config)), email)
    if profile is None:
        raise InputError(f"{email}: no such subscriber")
    if want_json(ctx, json):
        print_json(profile)
        return
    typer.echo(f"email      {profile['email']}")
    typer.echo(f"status     {profile['status']}")
    typer.echo(f"editions   {profile['editions'] or '-'}")
    typer.echo(f"source     {profile['source'] or '-'}")
    typer.echo(f"created    {profile['created_at']}")
    pending = profile["pending_signup"]
    if isinstance(pending, dict):
        typer.echo(
            f"pending    signed up {pending['created_at']}, link expires {pending['expires_at']}"
        )
    consents = profile["consents"]
    assert isinstance(consents, list)
    typer.echo(f"consents   {len(consents)}")
    for c in consents:
        typer.echo(
            f"  {c['at']}  {c['action']:<7} {c['method']:<13} {c['source']:<6} "
            f"ip={c['ip'] or '-'} text={c['text_version'] or '-'}"
            + (f" ({c['detail']})" if c["detail"] else "")
        )
    sends = profile["sends"]
    assert isinstance(sends, list)
    typer.echo(f"sent       {len(sends)}")
    for s in sends:
        typer.echo(f"  {s['issue_id']}  {s['status']}  {s['at']}")
