"""Each pre-send check passes on a clean email and fails (or warns) on a crafted one."""

from __future__ import annotations

import pytest

from newsletter.personalization import UNSUBSCRIBE_URL
from newsletter.rendering.checks import (
    SIZE_FAIL,
    SIZE_WARN,
    Check,
    check_dark_mode,
    check_doctype,
    check_images,
    check_lang,
    check_links,
    check_preheader_hidden,
    check_preheader_length,
    check_scripts,
    check_size,
    check_spam_words,
    check_stylesheets,
    check_subject,
    check_text_links,
    check_unsubscribe,
    parse_html,
    run_checks,
    worst,
)

PREHEADER = "Ten stories from the week in AI, plus four guides to go deeper."
HEAD = (
    '<meta name="color-scheme" content="light dark">'
    '<meta name="supported-color-schemes" content="light dark">'
    "<style>@media (prefers-color-scheme: dark) { body { color: #fff } }</style>"
)


def page(body: str, head: str = HEAD, lang: str = ' lang="en"') -> str:
    return f"<!DOCTYPE html><html{lang}><head>{head}</head><body>{body}</body></html>"


GOOD_BODY = (
    f'<div style="display:none;max-height:0;overflow:hidden">{PREHEADER}</div>'
    '<p><a href="https://example.com/a?x=1">A</a> <img src="https://example.com/i.png" alt="" width="10" height="10">'
    f'<a href="{UNSUBSCRIBE_URL}">Unsubscribe</a></p>'
)
GOOD_TEXT = f"A https://example.com/a?x=1\nUnsubscribe: {UNSUBSCRIBE_URL}\n"


def test_clean_email_passes_everything() -> None:
    checks = run_checks(page(GOOD_BODY), GOOD_TEXT, "The week in AI", PREHEADER)
    assert [c for c in checks if c.status != "pass"] == []
    assert worst(checks) == "pass"
    assert {c.name for c in checks} >= {
        "size",
        "preheader",
        "html-lang",
        "dark-mode",
        "images",
        "links",
        "no-script",
        "no-external-css",
        "subject-length",
        "preheader-length",
        "spam-words",
        "mjml",
    }


def test_size_warns_from_90_kb_and_fails_at_102_kb() -> None:
    assert check_size(SIZE_WARN - 1).status == "pass"
    assert check_size(SIZE_WARN).status == "warn"
    assert check_size(SIZE_FAIL).status == "fail"
    big = page(GOOD_BODY + "<p>" + "x" * SIZE_FAIL + "</p>")
    size = next(c for c in run_checks(big, GOOD_TEXT, "S", PREHEADER) if c.name == "size")
    assert size.status == "fail" and "102 KB" in size.detail


def test_missing_preheader_fails() -> None:
    assert check_preheader_hidden(parse_html(page("<p>Hello</p>")), PREHEADER).status == "fail"
    visible = page(f"<div>{PREHEADER}</div>")
    assert check_preheader_hidden(parse_html(visible), PREHEADER).status == "fail"


def test_missing_doctype_fails() -> None:
    assert check_doctype(page(GOOD_BODY)).status == "pass"
    assert check_doctype(page(GOOD_BODY)[15:]).status == "fail"


def test_missing_lang_fails() -> None:
    assert check_lang(parse_html(page(GOOD_BODY, lang=""))).status == "fail"


@pytest.mark.parametrize(
    "head",
    [
        "",
        '<meta name="color-scheme" content="light dark">'
        "<style>@media (prefers-color-scheme: dark) {}</style>",
        '<meta name="color-scheme" content="light dark">'
        '<meta name="supported-color-schemes" content="light dark">',
    ],
)
def test_dark_mode_needs_both_metas_and_styles(head: str) -> None:
    assert check_dark_mode(parse_html(page(GOOD_BODY, head=head))).status == "fail"


@pytest.mark.parametrize(
    "img",
    [
        '<img src="https://e.com/i.png" width="1" height="1">',
        '<img src="https://e.com/i.png" alt="x" width="1">',
    ],
)
def test_images_need_alt_and_dimensions(img: str) -> None:
    assert check_images(parse_html(page(img))).status == "fail"


@pytest.mark.parametrize(
    "href",
    [
        "/relative",
        "page.html",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "ftp://e.com/x",
        "//e.com/x",
        "%other_token%",
    ],
)
def test_links_must_be_absolute_http_or_tokens(href: str) -> None:
    check = check_links(parse_html(page(f'<a href="{href}">x</a>')))
    assert check.status == "fail"


def test_unsubscribe_mailto_is_allowed_when_configured() -> None:
    doc = parse_html(page('<a href="mailto:unsubscribe@almanac.example">x</a>'))
    assert check_links(doc, "unsubscribe@almanac.example").status == "pass"
    assert check_links(doc, None).status == "fail"


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script>",
        '<img src="https://e.com/i.png" alt="" width="1" height="1" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<iframe src="https://e.com"></iframe>',
    ],
)
def test_scripts_fail(body: str) -> None:
    assert check_scripts(parse_html(page(body))).status == "fail"


@pytest.mark.parametrize(
    "head",
    [
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">',
        "<style>@import url(https://fonts.googleapis.com/css?family=Roboto);</style>",
    ],
)
def test_external_stylesheets_fail(head: str) -> None:
    assert check_stylesheets(parse_html(page(GOOD_BODY, head=HEAD + head))).status == "fail"


def test_subject_length() -> None:
    assert check_subject("x" * 70).status == "pass"
    assert check_subject("x" * 71).status == "warn"
    assert check_subject("  ").status == "fail"


def test_preheader_length() -> None:
    assert check_preheader_length("x" * 40).status == "pass"
    assert check_preheader_length("x" * 39).status == "warn"
    assert check_preheader_length("x" * 131).status == "warn"
    assert check_preheader_length("").status == "fail"


@pytest.mark.parametrize(
    "subject",
    [
        "FREE guide inside",
        "Act now: AI news",
        "100% of the AI news",
        "BIG NEWS THIS WEEK",
        "Wow!! AI!",
    ],
)
def test_spam_words_warn(subject: str) -> None:
    assert check_spam_words(subject).status == "warn"


def test_spam_words_do_not_match_inside_words() -> None:
    assert check_spam_words("Freedom of information and AI").status == "pass"


def test_unsubscribe_placeholder_required_in_both_parts() -> None:
    assert check_unsubscribe("<p>no link</p>", GOOD_TEXT).status == "fail"
    assert check_unsubscribe(page(GOOD_BODY), "no link").status == "fail"


def test_text_links_must_match_html_links() -> None:
    doc = parse_html(page(GOOD_BODY))
    assert check_text_links(doc, GOOD_TEXT).status == "pass"
    assert check_text_links(doc, GOOD_TEXT + "https://other.example/x\n").status == "fail"
    assert check_text_links(doc, f"Unsubscribe: {UNSUBSCRIBE_URL}\n").status == "fail"


def test_mjml_messages_warn() -> None:
    checks = run_checks(page(GOOD_BODY), GOOD_TEXT, "S", PREHEADER, mjml_messages=["bad attr"])
    mjml = next(c for c in checks if c.name == "mjml")
    assert mjml.status == "warn" and "bad attr" in mjml.detail


def test_worst() -> None:
    mk = lambda s: Check(name="x", status=s, detail="")  # noqa: E731
    assert worst([mk("pass"), mk("warn")]) == "warn"
    assert worst([mk("warn"), mk("fail"), mk("pass")]) == "fail"
    assert worst([]) == "pass"
