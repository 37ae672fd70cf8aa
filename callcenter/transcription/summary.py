"""Extractive summary and keywords of a transcript, computed locally (no network, no model).

Terms are whitespace tokens, lower-cased, with punctuation stripped at their edges: this works
the same for Korean (vosk writes eojeol, the space-separated units, so a noun keeps its
particle: 고객님이 and 고객님 are different terms, which is acceptable for keywords) and for
alphabetic languages. Each segment is a "document": a term weighs its count in the whole
transcript times ``log(1 + segments / segments_containing_it)`` (TF-IDF inside one call), so
words repeated in every line ("네", "yes") count for little and a topic raised a few times
counts for a lot. Stopwords are a minimal list of fillers; one-character tokens are never
keywords (vosk's small models emit many lone syllables when unsure).

The summary is the highest-scoring segments (sum of their term weights over the square root
of their term count, so a long rambling turn does not win by length alone), in their original
order.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

STOPWORDS = frozenset(
    {
        # Korean fillers and answers
        "네",
        "예",
        "아",
        "어",
        "음",
        "그",
        "저",
        "이",
        "아니요",
        "그리고",
        "그래서",
        "그런데",
        "그럼",
        "근데",
        "진짜",
        "정말",
        # English
        "a",
        "an",
        "the",
        "and",
        "or",
        "to",
        "of",
        "in",
        "is",
        "it",
        "i",
        "you",
        "yes",
        "no",
        "ok",
        "okay",
        "um",
        "uh",
        # vosk's unknown-word marker
        "[unk]",
    }
)


@dataclass(frozen=True, slots=True)
class Summary:
    text: str
    keywords: list[str]


def terms(text: str) -> list[str]:
    """The terms of ``text``: whitespace tokens, case-folded, edge punctuation removed."""
    found: list[str] = []
    for raw in text.split():
        token = _strip_punctuation(raw.casefold())
        if token:
            found.append(token)
    return found


def _strip_punctuation(token: str) -> str:
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(token[end - 1])[0] in "PS":
        end -= 1
    return token[start:end]


def _is_content(term: str) -> bool:
    return len(term) > 1 and term not in STOPWORDS and not term.isdigit()


def term_weights(texts: Sequence[str]) -> dict[str, float]:
    """TF-IDF of each content term, with the segments of one transcript as documents."""
    documents = [[t for t in terms(text) if _is_content(t)] for text in texts]
    count: Counter[str] = Counter()
    containing: Counter[str] = Counter()
    for document in documents:
        count.update(document)
        containing.update(set(document))
    n = max(1, len(documents))
    return {term: tf * math.log(1.0 + n / containing[term]) for term, tf in count.items()}


def keywords(texts: Sequence[str], limit: int = 8) -> list[str]:
    weights = term_weights(texts)
    ranked = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
    return [term for term, _ in ranked[:limit]]


def summarize(texts: Sequence[str], max_segments: int = 3, keyword_limit: int = 8) -> Summary:
    """The ``max_segments`` most informative segments (in transcript order) and keywords."""
    weights = term_weights(texts)
    scored: list[tuple[float, int]] = []
    for index, text in enumerate(texts):
        content = [t for t in terms(text) if _is_content(t)]
        if not content:
            continue
        score = sum(weights[t] for t in content) / math.sqrt(len(content))
        scored.append((score, index))
    best = sorted(scored, key=lambda item: (-item[0], item[1]))[:max_segments]
    chosen = sorted(index for _, index in best)
    ranked = sorted(weights.items(), key=lambda item: (-item[1], item[0]))
    return Summary(
        text=" … ".join(texts[index].strip() for index in chosen),
        keywords=[term for term, _ in ranked[:keyword_limit]],
    )
