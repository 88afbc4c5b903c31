"""Choosing the sending backend (``delivery.backend``): the one place that knows them all.

The thread backend lives in :mod:`newsletter.delivery.threads`; the Celery backend in
:mod:`newsletter.delivery.celery_send`, imported only when configured (it needs Celery).
"""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.delivery.threads import Dispatcher


def dispatcher_class(cfg: Settings) -> type[Dispatcher]:
    """The dispatcher class for ``cfg.delivery.backend``."""
    if cfg.delivery.backend == "celery":
        from newsletter.delivery.celery_send import CeleryDispatcher

        return CeleryDispatcher
    return Dispatcher


__all__ = ["dispatcher_class"]
