"""CSS inlining with premailer: only the email's own inline stylesheet goes into style=""."""

from __future__ import annotations

import logging
import re
import warnings

from newsletter.errors import NewsletterError

_STYLE_OPEN = re.compile(r"<style(?=[\s>])")
_IGNORE = 'data-premailer="ignore"'
_CSSUTILS_QUIET = False


def _quiet_cssutils() -> None:
    """cssutils logs a warning for every vendor property; keep that out of our output."""
    global _CSSUTILS_QUIET
    if _CSSUTILS_QUIET:
        return
    import cssutils

    cssutils.log.setLevel(logging.CRITICAL)
    cssutils.ser.prefs.useMinified()
    logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)
    _CSSUTILS_QUIET = True


def inline_css(html: str, css: str) -> str:
    """Apply ``css`` as inline styles and return the document.

    MRML leaves the ``<mj-style inline="inline">`` block as a plain ``<style>`` element. That
    block (whose text is exactly ``css``) is removed and its rules are inlined; every other
    ``<style>`` (MJML's resets, media queries, dark mode) is kept untouched, so the reset
    rules are not copied onto every cell (Gmail clips messages above 102 KB).
    """
    block = f'<style type="text/css">{css}</style>'
    if block not in html:
        raise NewsletterError("rendering: the inline stylesheet is missing from the MJML output")
    html = html.replace(block, "", 1)
    # Other style blocks stay as they are (premailer drops the marker attribute again).
    html = _STYLE_OPEN.sub(f"<style {_IGNORE}", html)
    # premailer keeps the doctype only when it matches lxml's spelling exactly; without it
    # clients render in quirks mode.
    if html[:15].lower() == "<!doctype html>":
        html = "<!DOCTYPE html>" + html[15:]
    _quiet_cssutils()
    from premailer import Premailer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inliner = Premailer(
            css_text=css,
            allow_network=False,
            allow_loading_external_files=False,
            remove_classes=False,
            strip_important=False,
            disable_validation=True,
            cssutils_logging_level=logging.CRITICAL,
            disable_leftover_css=True,
            disable_link_rewrites=True,
        )
        out: str = inliner.transform(html, pretty_print=False)
    # Blocks inside Outlook conditional comments are not parsed, so their marker stays.
    out = out.replace(f"<style {_IGNORE}", "<style")
    if out.lstrip()[:9].lower() != "<!doctype":
        out = "<!DOCTYPE html>\n" + out
    return out
