"""Subjects and preheaders in our voice: the maker named, never cut mid-phrase, ≤ 70 characters."""

from __future__ import annotations

from newsletter.curation.subject import (
    SUBJECT_MAX,
    attribute,
    make_preheader,
    make_subject,
    maker_name,
    reads_as_ours,
)

GEMINI = "Gemini 3.5: our most capable model yet"
FUNDING = "Anthropic raises new funding at a higher valuation"
FALLBACK = "Call Me Almanac Sunday: a quiet week in AI"


def test_first_person_headlines_are_recognised() -> None:
    assert reads_as_ours(GEMINI)
    assert reads_as_ours("Introducing Claude 5") and reads_as_ours("We're hiring")
    assert not reads_as_ours(FUNDING) and not reads_as_ours("Ourselves and others")


def test_makers_come_from_first_party_sources() -> None:
    assert maker_name("Google DeepMind Blog") == "Google DeepMind"
    assert maker_name("NVIDIA Newsroom") == "NVIDIA"
    assert maker_name("OpenAI News") == "OpenAI"
    assert maker_name("TechCrunch") == "TechCrunch"


def test_the_maker_is_named_instead_of_taking_the_claim_verbatim() -> None:
    assert attribute(GEMINI, "Google DeepMind") == (
        "Google DeepMind's Gemini 3.5: its most capable model yet"
    )
    assert attribute("Introducing Claude 5", "Anthropic") == "Anthropic introduces Claude 5"
    assert attribute("Announcing Llama 5", "Meta") == "Meta announces Llama 5"
    assert attribute("We're expanding our work with the UK", "OpenAI") == (
        "OpenAI is expanding its work with the UK"
    )
    assert attribute("Nvidia: we ship Rubin", "NVIDIA") == "NVIDIA: “Nvidia: we ship Rubin”"
    assert attribute(FUNDING, "TechCrunch") == FUNDING


def test_subject_names_the_maker_from_the_source() -> None:
    subject = make_subject([GEMINI, FUNDING], FALLBACK, ["Google DeepMind Blog", "TechCrunch"])
    assert subject == "Google DeepMind's Gemini 3.5: its most capable model yet"
    assert " our " not in f" {subject.lower()} "


def test_without_a_source_only_the_neutral_part_is_used() -> None:
    assert make_subject([GEMINI, FUNDING], FALLBACK) == f"Gemini 3.5, plus {FUNDING}"
    assert make_subject(["We did it again", FUNDING], FALLBACK) == FUNDING


def test_a_long_headline_is_never_cut_with_an_ellipsis() -> None:
    long = "Copilot Cowork flaw let attackers pull files through a crafted document in Teams"
    assert len(long) > SUBJECT_MAX
    # No shorter phrasing: the next story that fits, else the fallback.
    assert make_subject([long, FUNDING], FALLBACK) == FUNDING
    assert make_subject([long], FALLBACK) == FALLBACK
    # A shorter phrasing: the headline before its subtitle.
    titled = "Microsoft Build 2026: every Copilot, agent and Azure announcement from the keynote"
    assert make_subject([titled], FALLBACK) == "Microsoft Build 2026"


def test_subjects_stay_within_70_characters() -> None:
    titles = [f"Headline number {i} about a model, a chip and a regulator today" for i in range(5)]
    for n in range(1, 5):
        subject = make_subject(titles[:n], FALLBACK)
        assert len(subject) <= SUBJECT_MAX and not subject.endswith("…")


def test_preheader_drops_what_does_not_fit_instead_of_cutting() -> None:
    long = "A" + " very" * 30 + " long headline"
    pre = make_preheader(
        [GEMINI, long, "Introducing Claude 5"], 3, "Sunday", "Almanac", ["a", "b", "Anthropic"]
    )
    assert "…" not in pre and "Anthropic introduces Claude 5" in pre
    assert long not in pre
