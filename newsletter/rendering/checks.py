"""Pre-send checks on the rendered email: size, accessibility, links, dark mode, wording."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from lxml import html as lxml_html
from pydantic import BaseModel, ConfigDict

from newsletter.personalization import TOKENS
from newsletter.rendering.text import text_urls

Status = Literal["pass", "warn", "fail"]

SIZE_WARN = 90 * 1024
SIZE_FAIL = 102 * 1024
SUBJECT_MAX = 70
PREHEADER_MIN = 40
PREHEADER_MAX = 130
SPAM_WORDS: tuple[str, ...] = (
    "free",
    "winner",
    "cash",
    "act now",
    "urgent",
    "guarantee",
    "risk-free",
    "click here",
    "limited time",
    "100%",
    "$$$",
    "no cost",
    "earn money",
    "buy now",
    "congratulations",
)
# Invisible characters padding the preheader so the body does not leak into the inbox preview.
_FILLER = "\u034f\u200c\u00a0 \t\n"
_URL_ATTRS = ("href", "src", "action", "formaction", "background", "poster", "xlink:href")


class Check(BaseModel):
    """One check's outcome, as stored in ``checks.json``."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: Status
    detail: str


def worst(checks: Iterable[Check]) -> Status:
    """The most serious status among ``checks`` (``pass`` when there are none)."""
    order = {"pass": 0, "warn": 1, "fail": 2}
    result: Status = "pass"
    for check in checks:
        if order[check.status] > order[result]:
            result = check.status
    return result


def _check(name: str, problems: Sequence[str], ok: str, status: Status = "fail") -> Check:
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return Check(name=name, status=status, detail="; ".join(problems[:3]) + more)
    return Check(name=name, status="pass", detail=ok)


def check_size(size: int) -> Check:
    kb = size / 1024
    if size >= SIZE_FAIL:
        return Check(name="size", status="fail", detail=f"{kb:.1f} KB: Gmail clips at 102 KB")
    if size >= SIZE_WARN:
        return Check(name="size", status="warn", detail=f"{kb:.1f} KB: close to Gmail's 102 KB")
    return Check(name="size", status="pass", detail=f"{kb:.1f} KB (Gmail clips at 102 KB)")


def _is_hidden(style: str) -> bool:
    compact = style.replace(" ", "").lower()
    return "display:none" in compact or ("max-height:0" in compact and "opacity:0" in compact)


def check_preheader_hidden(doc: lxml_html.HtmlElement, preheader: str) -> Check:
    body = doc.find("body")
    if body is None:
        return Check(name="preheader", status="fail", detail="no <body>")
    for el in body.iter("div", "span"):
        text = " ".join((el.text_content() or "").strip(_FILLER).split()).strip(_FILLER)
        if _is_hidden(el.get("style", "")) and text:
            if preheader and not text.startswith(" ".join(preheader.split())):
                return Check(
                    name="preheader", status="fail", detail="hidden preheader differs from plan"
                )
            return Check(name="preheader", status="pass", detail="hidden preheader present")
    return Check(name="preheader", status="fail", detail="no hidden preheader before the content")


def check_lang(doc: lxml_html.HtmlElement) -> Check:
    lang = (doc.get("lang") or "").strip()
    if not lang:
        return Check(name="html-lang", status="fail", detail="<html> has no lang attribute")
    return Check(name="html-lang", status="pass", detail=f'lang="{lang}"')


def check_doctype(html: str) -> Check:
    """Without a doctype clients render in quirks mode (tables lose font and line-height)."""
    if html.lstrip()[:15].lower() != "<!doctype html>":
        return Check(name="doctype", status="fail", detail="no <!DOCTYPE html>: quirks mode")
    return Check(name="doctype", status="pass", detail="<!DOCTYPE html>")


def check_dark_mode(doc: lxml_html.HtmlElement) -> Check:
    metas = {(m.get("name") or "").lower(): (m.get("content") or "") for m in doc.iter("meta")}
    problems = [
        f'no <meta name="{name}">'
        for name in ("color-scheme", "supported-color-schemes")
        if "dark" not in metas.get(name, "")
    ]
    styles = " ".join((s.text or "") for s in doc.iter("style")).replace(" ", "")
    if "prefers-color-scheme:dark" not in styles:
        problems.append("no @media (prefers-color-scheme: dark) styles")
    return _check("dark-mode", problems, "color-scheme meta and dark-mode styles present")


def check_images(doc: lxml_html.HtmlElement) -> Check:
    problems = []
    count = 0
    for img in doc.iter("img"):
        count += 1
        src = img.get("src", "?")
        if img.get("alt") is None:
            problems.append(f"image {src} has no alt text")
        if not img.get("width") or not img.get("height"):
            problems.append(f"image {src} has no width/height")
    return _check("images", problems, f"{count} images, all with alt and dimensions")


def check_links(doc: lxml_html.HtmlElement, allowed_mailto: str | None = None) -> Check:
    problems = []
    count = 0
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in ("href", "src"):
            value = el.get(attr)
            if value is None:
                continue
            count += 1
            url = value.strip()
            lower = url.lower()
            if url in TOKENS:
                continue
            if lower.startswith(("http://", "https://")) and len(url) > 8:
                continue
            if allowed_mailto and lower == f"mailto:{allowed_mailto.lower()}":
                continue
            problems.append(f"{el.tag} {attr}={url[:80]!r} is not an absolute http(s) URL")
    return _check("links", problems, f"{count} links, all absolute http(s) or placeholders")


def check_scripts(doc: lxml_html.HtmlElement) -> Check:
    problems = []
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        if tag in ("script", "iframe", "object", "embed", "form"):
            problems.append(f"<{tag}> element")
        for name, value in el.attrib.items():
            if name.lower().startswith("on"):
                problems.append(f"<{tag} {name}> event handler")
            elif name.lower() in _URL_ATTRS and "javascript:" in value.lower().replace(" ", ""):
                problems.append(f"<{tag} {name}> javascript: URL")
    return _check("no-script", problems, "no scripts, event handlers or javascript: URLs")


def check_stylesheets(doc: lxml_html.HtmlElement) -> Check:
    problems = [
        f"<link rel=stylesheet href={link.get('href', '')!r}>"
        for link in doc.iter("link")
        if "stylesheet" in (link.get("rel") or "").lower()
    ]
    problems += ["@import in <style>" for s in doc.iter("style") if "@import" in (s.text or "")]
    return _check("no-external-css", problems, "no external stylesheets")


def check_subject(subject: str) -> Check:
    n = len(subject)
    if not subject.strip():
        return Check(name="subject-length", status="fail", detail="subject is empty")
    if n > SUBJECT_MAX:
        return Check(
            name="subject-length",
            status="warn",
            detail=f"{n} characters: mobile clients cut subjects after about {SUBJECT_MAX}",
        )
    return Check(name="subject-length", status="pass", detail=f"{n} characters")


def check_preheader_length(preheader: str) -> Check:
    n = len(preheader.strip())
    if n == 0:
        return Check(name="preheader-length", status="fail", detail="preheader is empty")
    if n < PREHEADER_MIN or n > PREHEADER_MAX:
        return Check(
            name="preheader-length",
            status="warn",
            detail=f"{n} characters (aim for {PREHEADER_MIN}–{PREHEADER_MAX})",
        )
    return Check(name="preheader-length", status="pass", detail=f"{n} characters")


def check_spam_words(subject: str) -> Check:
    lower = f" {subject.lower()} "
    found = [w for w in SPAM_WORDS if f" {w} " in lower or (not w.isalpha() and w in lower)]
    if subject.isupper() and len(subject) > 10:
        found.append("ALL CAPS")
    if subject.count("!") > 1:
        found.append("several exclamation marks")
    if found:
        return Check(
            name="spam-words", status="warn", detail="subject contains: " + ", ".join(found)
        )
    return Check(name="spam-words", status="pass", detail="no spam-trigger words in the subject")


def check_unsubscribe(html: str, text: str) -> Check:
    from newsletter.personalization import UNSUBSCRIBE_URL

    missing = [
        part for part, body in (("HTML", html), ("text", text)) if UNSUBSCRIBE_URL not in body
    ]
    return _check(
        "unsubscribe",
        [f"the {p} part has no {UNSUBSCRIBE_URL} link" for p in missing],
        "unsubscribe link placeholder in both parts",
    )


def html_links(doc: lxml_html.HtmlElement) -> set[str]:
    """Every href of an <a> element."""
    return {a.get("href", "").strip() for a in doc.iter("a") if a.get("href")}


def check_text_links(doc: lxml_html.HtmlElement, text: str) -> Check:
    in_html = html_links(doc)
    in_text = text_urls(text)
    problems = [f"only in HTML: {u[:80]}" for u in sorted(in_html - in_text)]
    problems += [f"only in text: {u[:80]}" for u in sorted(in_text - in_html)]
    return _check("text-links", problems, f"the text part has all {len(in_html)} links")


def check_mjml(messages: Sequence[str]) -> Check:
    if messages:
        return Check(name="mjml", status="warn", detail="; ".join(messages[:3]))
    return Check(name="mjml", status="pass", detail="MJML rendered without warnings")


def parse_html(html: str) -> lxml_html.HtmlElement:
    """Parse an HTML document with lxml."""
    return lxml_html.document_fromstring(html)


def run_checks(
    html: str,
    text: str,
    subject: str,
    preheader: str,
    *,
    mjml_messages: Sequence[str] = (),
    allowed_mailto: str | None = None,
) -> list[Check]:
    """Every check on one rendered email, in a stable order."""
    doc = parse_html(html)
    return [
        check_size(len(html.encode("utf-8"))),
        check_preheader_hidden(doc, preheader),
        check_doctype(html),
        check_lang(doc),
        check_dark_mode(doc),
        check_images(doc),
        check_links(doc, allowed_mailto),
        check_scripts(doc),
        check_stylesheets(doc),
        check_subject(subject),
        check_preheader_length(preheader),
        check_spam_words(subject),
        check_unsubscribe(html, text),
        check_text_links(doc, text),
        check_mjml(mjml_messages),
    ]
