"""Pre-send checks on the rendered email: size, accessibility, links, dark mode, wording."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from lxml import html as lxml_html
from pydantic import BaseModel, ConfigDict

from newsletter.models import Story
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


_RULE = re.compile(r"^(?:-{20,}|={20,})$")
_BREAKABLE = re.compile(r"[ \t\r\n]+")  # not \xa0: a no-break space keeps words together
LONG_WORD = 30
"""Link text with a longer unbreakable run overflows narrow screens (Yahoo ignores word-break)."""
LOW_CONTRAST = 1.5
"""Text colour this close to its background reads as hidden text to spam filters."""


def html_sections(doc: lxml_html.HtmlElement) -> list[str]:
    """The section headings of the email (elements with class ``section``), in order."""
    return [
        " ".join(el.text_content().split())
        for el in doc.iter()
        if isinstance(el.tag, str) and "section" in (el.get("class") or "").split()
    ]


def text_sections(text: str) -> list[str]:
    """The section headings of the text part: a line between two rule lines."""
    lines = [line.strip() for line in text.splitlines()]
    return [
        lines[i]
        for i in range(1, len(lines) - 1)
        if lines[i] and _RULE.match(lines[i - 1]) and _RULE.match(lines[i + 1])
    ]


def check_sections(
    doc: lxml_html.HtmlElement, text: str, expected: Sequence[str] | None = None
) -> Check:
    """The text part has the HTML's sections in the same order (and both the view's)."""
    in_html = [h.casefold() for h in html_sections(doc)]
    in_text = [h.casefold() for h in text_sections(text)]
    problems = []
    if in_html != in_text:
        problems.append(f"HTML sections {in_html} but text sections {in_text}")
    if expected is not None and [e.casefold() for e in expected] != in_html:
        problems.append(f"expected sections {[e.casefold() for e in expected]}, HTML has {in_html}")
    return _check(
        "text-sections", problems, f"text part has the HTML's {len(in_html)} sections in order"
    )


def check_story_count(stories: int, min_stories: int) -> Check:
    """An issue without a story fails; one below the edition's ``min_stories`` warns."""
    if stories == 0:
        return Check(
            name="stories", status="fail", detail="no story: an empty issue must not go out"
        )
    if stories < min_stories:
        return Check(
            name="stories",
            status="warn",
            detail=f"{stories} {'story' if stories == 1 else 'stories'}, "
            f"fewer than this edition's min_stories ({min_stories})",
        )
    return Check(name="stories", status="pass", detail=f"{stories} stories")


def check_curation(stories: Sequence[Story], low: float) -> Check:
    """Warn about the pairings and merges the model was unsure of (below
    ``curation.low_confidence``), so an editor looks at them before approving. An editor's
    own choices carry confidence 1 and are never flagged."""
    problems = []
    for n, story in enumerate(stories, start=1):
        guide = story.guide
        if guide is not None and guide.confidence is not None and guide.confidence < low:
            problems.append(f"story {n}: guide {guide.slug} only {guide.confidence:.0%} sure")
        merged = story.merge_confidence
        if merged is not None and merged < low:
            reports = len(story.also) + 1
            problems.append(f"story {n}: {reports} reports merged only {merged:.0%} sure")
    return _check(
        "curation", problems, f"every pairing and merge is at least {low:.0%} sure", status="warn"
    )


def check_shortened(subject: str, summaries: int, summary_max: int | None = None) -> Check:
    """Warn when the subject or any summary was shortened, so an editor looks at it."""
    problems = []
    if subject.rstrip().endswith(("…", "...")):
        problems.append("the subject ends with an ellipsis: it was cut, rephrase it")
    if summaries:
        limit = f" to {summary_max} characters" if summary_max else ""
        problems.append(
            f"{summaries} {'summary' if summaries == 1 else 'summaries'} shortened{limit} "
            "in the email (whole on the web page)"
        )
    return _check("shortened", problems, "subject and summaries shown whole", status="warn")


def check_link_text(doc: lxml_html.HtmlElement) -> Check:
    """No link text with an unbreakable run longer than :data:`LONG_WORD` characters."""
    problems = []
    for a in doc.iter("a"):
        for word in _BREAKABLE.split(a.text_content() or ""):
            if len(word) > LONG_WORD:
                problems.append(f"link text {word[:40]!r}… does not wrap ({len(word)} characters)")
    return _check("long-link-text", problems, "every link text can wrap", status="warn")


def _hex(value: str) -> tuple[float, float, float] | None:
    value = value.strip().lower()
    named = {"white": "#ffffff", "black": "#000000"}
    value = named.get(value, value)
    if re.fullmatch(r"#[0-9a-f]{3}", value):
        value = "#" + "".join(c * 2 for c in value[1:])
    if re.fullmatch(r"#[0-9a-f]{6}", value):
        return tuple(int(value[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]
    rgb = re.fullmatch(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+).*\)", value)
    if rgb:
        return tuple(int(rgb.group(i)) / 255 for i in (1, 2, 3))  # type: ignore[return-value]
    return None


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg: str, bg: str) -> float | None:
    """WCAG contrast ratio of two CSS colours (``#abc``, ``#aabbcc``, ``rgb()``), or None."""
    a, b = _hex(fg), _hex(bg)
    if a is None or b is None:
        return None
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _style(el: lxml_html.HtmlElement, prop: str) -> str | None:
    found = None
    for decl in (el.get("style") or "").split(";"):
        name, _, value = decl.partition(":")
        if name.strip().lower() == prop:
            found = value.replace("!important", "").strip()
    return found


def _background(el: lxml_html.HtmlElement) -> str:
    node: lxml_html.HtmlElement | None = el
    while node is not None:
        for value in (
            _style(node, "background-color"),
            _style(node, "background"),
            node.get("bgcolor"),
        ):
            if value and _hex(value.split()[0]) is not None:
                return value.split()[0]
        node = node.getparent()
    return "#ffffff"


def check_hidden_contrast(doc: lxml_html.HtmlElement) -> Check:
    """SpamAssassin's HTML_FONT_LOW_CONTRAST, as a check: text (hidden preheaders above all)
    whose colour is nearly its background's reads as hidden spam text."""
    problems = []
    for el in doc.iter():
        if not isinstance(el.tag, str) or not (el.text or "").strip(_FILLER):
            continue
        color = _style(el, "color") or el.get("color")
        if not color:
            continue
        ratio = contrast_ratio(color, _background(el))
        if ratio is not None and ratio < LOW_CONTRAST:
            hidden = " hidden" if _is_hidden(el.get("style", "")) else ""
            problems.append(
                f"{hidden.strip() or 'visible'} <{el.tag}> text colour {color} on "
                f"{_background(el)} (contrast {ratio:.2f})"
            )
    return _check("low-contrast", problems, "no text coloured like its background", status="warn")


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
    stories: int | None = None,
    min_stories: int = 0,
    sections: Sequence[str] | None = None,
    shortened_summaries: int = 0,
    summary_max: int | None = None,
    curated: tuple[Sequence[Story], float] | None = None,
) -> list[Check]:
    """Every check on one rendered email, in a stable order.

    ``stories`` (the issue's story count) adds the story-count check; ``sections`` (the view's
    section headings) is what both parts must show, in order; ``curated`` (the stories and
    ``curation.low_confidence``) adds the check of unsure pairings and merges.
    """
    doc = parse_html(html)
    counted = [] if stories is None else [check_story_count(stories, min_stories)]
    unsure = [] if curated is None else [check_curation(*curated)]
    return [
        *counted,
        *unsure,
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
        check_sections(doc, text, sections),
        check_shortened(subject, shortened_summaries, summary_max),
        check_hidden_contrast(doc),
        check_link_text(doc),
        check_mjml(mjml_messages),
    ]
