"""The engagement report of an issue (per story and guide) and its deliverability alerts."""

from newsletter.reporting.alerts import Alert, check_alerts, recent_alerts
from newsletter.reporting.links import LinkInfo, link_map
from newsletter.reporting.report import IssueReport, build_report

__all__ = [
    "Alert",
    "IssueReport",
    "LinkInfo",
    "build_report",
    "check_alerts",
    "link_map",
    "recent_alerts",
]
