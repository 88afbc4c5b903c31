"""Scheduling: each edition assembled, reviewed and sent on time, exactly once per slot."""

from newsletter.scheduling.claims import SlotRun, SlotStore
from newsletter.scheduling.pipeline import Notice, Pipeline, preview_url
from newsletter.scheduling.runner import (
    Outcome,
    SlotRunner,
    build_scheduler,
    run_due,
    run_once,
    run_scheduler,
)
from newsletter.scheduling.slots import (
    SlotTrigger,
    assemble_time,
    next_assemble,
    next_slot,
    previous_slot,
    slots_between,
    wall_to_instant,
)

__all__ = [
    "Notice",
    "Outcome",
    "Pipeline",
    "SlotRun",
    "SlotRunner",
    "SlotStore",
    "SlotTrigger",
    "assemble_time",
    "build_scheduler",
    "next_assemble",
    "next_slot",
    "preview_url",
    "previous_slot",
    "run_due",
    "run_once",
    "run_scheduler",
    "slots_between",
    "wall_to_instant",
]
