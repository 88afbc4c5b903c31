"""MJML to HTML with mjml-python (MRML, in-process)."""

from __future__ import annotations

from newsletter.errors import NewsletterError


class MjmlError(NewsletterError):
    """The MJML source could not be rendered (a template bug, not bad content)."""


def mjml_to_html(source: str) -> str:
    """Render MJML to HTML. No web fonts are linked: the email uses the system font stack."""
    import mjml

    try:
        html: str = mjml.mjml2html(source, fonts={})
    except (ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MjmlError(f"rendering: MJML error: {first}") from None
    return html
