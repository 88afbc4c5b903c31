"""``newsletter worker``: a Celery worker that posts batches for ``delivery.backend: celery``."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.common import ConfigOpt, console, global_options, settings


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)


def worker_command(
    ctx: typer.Context,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-c", min=1, max=64, help="Batches posted at once."),
    ] = 2,
    pool: Annotated[
        str, typer.Option("--pool", help="threads (default) or solo (one batch at a time).")
    ] = "threads",
    loglevel: Annotated[
        str, typer.Option("--loglevel", help="Celery log level (DEBUG, INFO, WARNING).")
    ] = "INFO",
    config: ConfigOpt = None,
) -> None:
    """Post batches from the Celery queue (delivery.celery) until stopped.

    Run one or more on any machine that shares the config (same storage.url and broker).
    SIGTERM / Ctrl-C finish the batches in progress first. Exit codes: 0 stopped; 1 failed.
    """
    from newsletter.delivery.celery_app import require_celery, run_worker

    require_celery()
    cfg = settings(ctx, config)
    path = config or global_options(ctx).config
    conf = cfg.delivery.celery
    from newsletter.delivery.celery_send import safe_url

    console.print(
        f"worker: queue {conf.queue!r} on {safe_url(conf.broker_url)}, {pool} pool, "
        f"concurrency {concurrency}",
        markup=False,
        soft_wrap=True,
    )
    run_worker(
        cfg,
        concurrency=concurrency,
        pool=pool,
        loglevel=loglevel.upper(),
        config_path=path.resolve() if path else None,
    )
