"""The web app: editor preview and Approve, one-click unsubscribe, preferences, event webhook."""

from newsletter.web.app import create_app, startup_warnings

__all__ = ["create_app", "startup_warnings"]
