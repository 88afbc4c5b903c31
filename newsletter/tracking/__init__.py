"""Click tracking pieces shared by rendering, the store, the report and the web app."""

from newsletter.tracking.tokens import ClickTarget, sign_click, verify_click
from newsletter.tracking.urls import normalise_url

__all__ = ["ClickTarget", "normalise_url", "sign_click", "verify_click"]
