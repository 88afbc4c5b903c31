"""The tokenisers match exactly what the scikit-learn-style patterns with \\b would match."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.curation.text import WORD, WORD_WITH_HYPHENS

SKLEARN_WORD = re.compile(r"(?u)\b\w\w+\b")
SKLEARN_HYPHENATED = re.compile(r"(?u)\b\w[\w-]*\w\b")

# Word characters, hyphens, separators and a few Unicode oddities (combining marks, ß, ZWSP).
TEXT = st.text(alphabet=st.sampled_from(list("ab_1é-- .,ßİ\u0301\u200b\t")), max_size=40)


@settings(max_examples=2000, deadline=None)
@given(TEXT)
def test_word_pattern_matches_the_bounded_one(text: str) -> None:
    assert WORD.findall(text) == SKLEARN_WORD.findall(text)
    assert WORD.findall(text.lower()) == SKLEARN_WORD.findall(text.lower())


@settings(max_examples=2000, deadline=None)
@given(TEXT)
def test_hyphenated_pattern_matches_the_bounded_one(text: str) -> None:
    assert WORD_WITH_HYPHENS.findall(text) == SKLEARN_HYPHENATED.findall(text)


def test_examples() -> None:
    text = "GPT-4o and co-pilots: a-b- -ab x"
    assert WORD.findall(text) == ["GPT", "4o", "and", "co", "pilots", "ab"]
    assert WORD_WITH_HYPHENS.findall(text) == ["GPT-4o", "and", "co-pilots", "a-b", "ab"]
