"""What the email says: the new checks, the editor's note, summary caps, text-part sections."""

from __future__ import annotations

import pytest
from lxml import html as lxml_html

from newsletter.config import Settings
from newsletter.models import GuideRef, IssuePlan
from newsletter.rendering import render_plan
from newsletter.rendering.checks import (
    check_curation,
    check_hidden_contrast,
    check_link_text,
    check_sections,
    check_shortened,
    check_story_count,
    contrast_ratio,
    parse_html,
    text_sections,
)
from newsletter.rendering.context import PREVIEW_CHARS, build_view
from newsletter.rendering.note import parse_note
from newsletter.rendering.sentences import cap_at_sentence, sentences
from tests.render_support import make_plans, project

RULE = "-" * 72


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, IssuePlan]]:
    cfg, _ = project(tmp_path_factory.mktemp("render-content"))
    sunday, midweek = make_plans(cfg)
    return cfg, {"sunday": sunday, "midweek": midweek}


def statuses(plan_checks: list[object]) -> dict[str, str]:
    return {c.name: c.status for c in plan_checks}  # type: ignore[attr-defined]


# --- story count -----------------------------------------------------------------------------


def test_story_count_fails_on_none_and_warns_below_the_minimum() -> None:
    assert check_story_count(0, 5).status == "fail"
    assert check_story_count(2, 5).status == "warn"
    assert "min_stories (5)" in check_story_count(2, 5).detail
    assert check_story_count(5, 5).status == "pass"


# --- unsure curation ---------------------------------------------------------------------------


def test_unsure_pairings_and_merges_warn_and_an_editors_choice_never_does(
    setup: tuple[Settings, dict[str, IssuePlan]],
) -> None:
    cfg, plans = setup
    stories = list(plans["sunday"].stories)
    assert check_curation(stories, 0.7).status == "pass"
    first, second = stories[0], stories[1]
    assert first.guide is not None
    unsure_guide = first.guide.model_copy(update={"confidence": 0.55})
    stories[0] = first.model_copy(update={"guide": unsure_guide})
    stories[1] = second.model_copy(update={"merge_confidence": 0.4})
    check = check_curation(stories, 0.7)
    assert check.status == "warn"
    assert f"story 1: guide {first.guide.slug} only 55% sure" in check.detail
    assert "story 2:" in check.detail and "merged only 40% sure" in check.detail
    chosen = first.guide.model_copy(update={"confidence": 1.0, "reason": "chosen by an editor"})
    stories = [first.model_copy(update={"guide": chosen})]
    assert check_curation(stories, 0.7).status == "pass"
    plan = plans["sunday"].model_copy(
        update={"stories": (stories[0], *plans["sunday"].stories[1:])}
    )
    unsure = plan.model_copy(
        update={"stories": (first.model_copy(update={"guide": unsure_guide}), *plan.stories[1:])}
    )
    assert statuses(render_plan(cfg, unsure).checks)["curation"] == "warn"
    assert statuses(render_plan(cfg, plan).checks)["curation"] == "pass"


def test_an_empty_issue_renders_but_fails_its_checks(
    setup: tuple[Settings, dict[str, IssuePlan]],
) -> None:
    cfg, plans = setup
    for plan in plans.values():
        empty = plan.model_copy(update={"stories": [], "guides": []})
        rendered = render_plan(cfg, empty)
        assert statuses(rendered.checks)["stories"] == "fail"
        assert rendered.failures  # the CLI exits 1, the scheduler does not send


def test_editions_have_their_own_min_stories(setup: tuple[Settings, dict[str, IssuePlan]]) -> None:
    cfg, plans = setup
    assert cfg.editions["midweek"].min_stories == 3 and cfg.editions["sunday"].min_stories == 5
    for edition, plan in plans.items():
        quiet = plan.model_copy(update={"stories": plan.stories[:2]})
        check = next(c for c in render_plan(cfg, quiet).checks if c.name == "stories")
        assert check.status == "warn", edition
        four = plan.model_copy(update={"stories": plan.stories[:4]})
        expected = "warn" if edition == "sunday" else "pass"
        assert statuses(render_plan(cfg, four).checks)["stories"] == expected


# --- shortened subject and summaries --------------------------------------------------------


def test_shortened_subject_and_summaries_warn() -> None:
    assert check_shortened("The week in AI", 0).status == "pass"
    assert check_shortened("Microsoft and OpenAI rewrite their…", 0).status == "warn"
    assert check_shortened("Cut...", 0).status == "warn"
    warned = check_shortened("The week in AI", 2, 300)
    assert warned.status == "warn" and "2 summaries shortened to 300 characters" in warned.detail


def test_summaries_are_capped_at_a_sentence_and_whole_on_the_web(
    setup: tuple[Settings, dict[str, IssuePlan]],
) -> None:
    cfg, plans = setup
    plan = plans["sunday"]
    long = " ".join(f"Sentence number {i} says something about AI chips." for i in range(20))
    story = plan.stories[1]
    item = story.item.model_copy(update={"summary": long})
    plan = plan.model_copy(
        update={"stories": [plan.stories[0], story.model_copy(update={"item": item})]}
    )
    rendered = render_plan(cfg, plan)
    email_text = lxml_html.document_fromstring(rendered.html).text_content()
    web_text = lxml_html.document_fromstring(rendered.web_html).text_content()
    shown = cap_at_sentence(long, cfg.rendering.summary_max_chars)[0]
    assert len(shown) <= 300 and shown.endswith("chips.") and shown in email_text
    assert long not in email_text and long in web_text
    assert shown in " ".join(rendered.text.split())
    assert statuses(rendered.checks)["shortened"] == "warn"


def test_cap_at_sentence() -> None:
    assert cap_at_sentence("Short one.", 300) == ("Short one.", False)
    text = "First sentence here. Second sentence is longer than that. Third."
    assert cap_at_sentence(text, 30) == ("First sentence here.", True)
    # One sentence longer than the cap: the end of a clause, marked with an ellipsis.
    one = "A very long sentence, with a clause, that never ends before the limit is reached"
    assert cap_at_sentence(one, 40) == ("A very long sentence, with a clause…", True)
    assert sentences("The U.S. rules changed. Then A. Smith left!") == [
        "The U.S. rules changed.",
        "Then A. Smith left!",
    ]


# --- sections: the text part mirrors the HTML ----------------------------------------------


def test_text_sections_are_lines_between_rules() -> None:
    text = f"Hi\n\n{RULE}\nIN THIS ISSUE\n{RULE}\n1. A\n\n{RULE}\nTOP STORY\n{RULE}\n\n{'=' * 72}\nfoot\n"
    assert text_sections(text) == ["IN THIS ISSUE", "TOP STORY"]


def test_sections_check_catches_a_text_only_section() -> None:
    doc = parse_html(
        '<html><body><h2 class="section">Top story</h2><h2 class="section">More stories</h2>'
        "</body></html>"
    )
    same = f"{RULE}\nTOP STORY\n{RULE}\n\nx\n\n{RULE}\nMORE STORIES\n{RULE}\n"
    assert check_sections(doc, same, ["Top story", "More stories"]).status == "pass"
    # Midweek's old text part: a GUIDES OF THE WEEK section its HTML lacks (same links!).
    extra = same + f"{RULE}\nGUIDES OF THE WEEK\n{RULE}\n"
    failed = check_sections(doc, extra)
    assert failed.status == "fail" and "guides of the week" in failed.detail
    swapped = f"{RULE}\nMORE STORIES\n{RULE}\n\nx\n\n{RULE}\nTOP STORY\n{RULE}\n"
    assert check_sections(doc, swapped).status == "fail"


def test_rendered_parts_have_the_same_sections(
    setup: tuple[Settings, dict[str, IssuePlan]],
) -> None:
    cfg, plans = setup
    expected = {
        "sunday": ["In this issue", "Top story", "The week's stories"],
        "midweek": ["Top story", "More stories"],
    }
    for edition, plan in plans.items():
        rendered = render_plan(cfg, plan)
        assert [s.lower() for s in text_sections(rendered.text)] == [
            s.lower() for s in expected[edition]
        ]
        assert statuses(rendered.checks)["text-sections"] == "pass"
        view = build_view(cfg, plan)
        assert list(view.sections) == expected[edition]


# --- hidden text, preheader, link text ------------------------------------------------------


def test_low_contrast_hidden_text_warns() -> None:
    mjml_preview = (
        '<html><body style="background-color:#f1eee7"><div style="display:none;'
        'color:#ffffff;max-height:0px;opacity:0">Preheader</div></body></html>'
    )
    check = check_hidden_contrast(parse_html(mjml_preview))
    assert check.status == "warn" and "hidden <div>" in check.detail
    ours = mjml_preview.replace("#ffffff", "#23272e")
    assert check_hidden_contrast(parse_html(ours)).status == "pass"
    in_table = '<html><body><table bgcolor="#000"><tr><td><p style="color:#111">x</p></td></tr></table></body></html>'
    assert check_hidden_contrast(parse_html(in_table)).status == "warn"
    assert contrast_ratio("#000", "#fff") == pytest.approx(21)


def test_preheader_fills_the_preview_then_the_body_starts(
    setup: tuple[Settings, dict[str, IssuePlan]],
) -> None:
    cfg, plans = setup
    rendered = render_plan(cfg, plans["sunday"])
    doc = lxml_html.document_fromstring(rendered.html)
    hidden = doc.cssselect("div.preheader")[0]
    content = hidden.text_content()
    assert content.startswith(plans["sunday"].preheader)
    assert len(content) >= 3 * (PREVIEW_CHARS - len(plans["sunday"].preheader))
    assert len(plans["sunday"].preheader) + content.count("\xa0") >= PREVIEW_CHARS
    style = hidden.get("style", "").replace(" ", "")
    assert "display:none" in style and "color:#ffffff" not in style
    assert statuses(rendered.checks)["low-contrast"] == "pass"


def test_unbreakable_link_text_warns() -> None:
    long = "https://example.com/a/very/long/path/that/does/not/wrap"
    doc = parse_html(f'<html><body><a href="{long}">{long}</a></body></html>')
    assert check_link_text(doc).status == "warn"
    nbsp = parse_html(
        '<html><body><a href="https://x.example">View&nbsp;in&nbsp;browser</a></body></html>'
    )
    assert check_link_text(nbsp).status == "pass"
    glued = parse_html(
        '<html><body><a href="https://x.example">'
        + "&nbsp;".join(["word"] * 10)
        + "</a></body></html>"
    )
    assert check_link_text(glued).status == "warn"


# --- the editor's note ------------------------------------------------------------------------


def _vet(url: str) -> str | None:
    return url if url.startswith(("http://", "https://")) else None


def test_note_markdown_subset() -> None:
    blocks = parse_note(
        "A **big** week: read [the post](https://x.example/p) and `code`, _really_.\n"
        "Same paragraph.\n\n- one *item*\n- [bad](javascript:alert(1))",
        _vet,
    )
    assert len(blocks) == 3
    kinds = [(s.kind, s.text) for s in blocks[0].segments]
    assert ("strong", "big") in kinds and ("link", "the post") in kinds
    assert ("code", "code") in kinds and ("em", "really") in kinds
    assert blocks[0].plain.endswith("really. Same paragraph.")
    assert "the post (https://x.example/p)" in blocks[0].plain
    assert blocks[1].bullet and blocks[2].bullet
    # A javascript: link keeps only its text.
    assert all(s.kind == "text" and s.url is None for s in blocks[2].segments)
    assert parse_note(None, _vet) == () and parse_note("  \n ", _vet) == ()


def test_note_renders_under_the_greeting_escaped_in_both_parts(
    setup: tuple[Settings, dict[str, IssuePlan]],
) -> None:
    cfg, plans = setup
    note = "Big week. Start with [the Gemini post](https://deepmind.example/x) <b>now</b>."
    for plan in plans.values():
        rendered = render_plan(cfg, plan.model_copy(update={"note": note}))
        doc = lxml_html.document_fromstring(rendered.html)
        para = doc.cssselect("p.note")[0]
        assert "<b>now</b>" in para.text_content() and not para.cssselect("b")
        link = para.cssselect("a")[0]
        assert link.get("href").startswith("https://deepmind.example/x?utm_source=")
        text = doc.text_content()
        assert text.index("Hi ") < text.index("Big week.") < text.index("Top story")
        assert rendered.text.index("Hi ") < rendered.text.index("Big week.")
        assert "<b>now</b>" in rendered.text and link.get("href") in rendered.text
        assert statuses(rendered.checks)["text-links"] == "pass"


# --- the guide line ---------------------------------------------------------------------------


def test_curated_context_wins_over_the_tldr(setup: tuple[Settings, dict[str, IssuePlan]]) -> None:
    cfg, plans = setup
    plan = plans["sunday"]
    index = next(i for i, s in enumerate(plan.stories) if s.guide)
    story = plan.stories[index]
    assert isinstance(story.guide, GuideRef)
    guide = story.guide.model_copy(update={"context": "Why this deal matters for chips & <you>."})
    stories = list(plan.stories)
    stories[index] = story.model_copy(update={"guide": guide})
    rendered = render_plan(cfg, plan.model_copy(update={"stories": stories}))
    text = lxml_html.document_fromstring(rendered.html).text_content()
    assert "Context: Why this deal matters for chips & <you>." in " ".join(text.split())
    assert "Context: Why this deal matters for chips & <you>." in rendered.text
    card = next(g for g in plan.guides if g.slug == guide.slug)
    assert card.tldr.split(",")[0] not in text
