"""Extractive summary and keywords."""

from __future__ import annotations

from callcenter.transcription.summary import keywords, summarize, terms


def test_terms_split_on_whitespace_and_strip_punctuation() -> None:
    assert terms("안녕하세요, 고객님! Refund?") == ["안녕하세요", "고객님", "refund"]


def test_keywords_prefer_the_topic_over_fillers() -> None:
    segments = [
        "네 안녕하세요 고객님",
        "환불 요청 드립니다 네",
        "네 환불 가능합니다",
        "네 주문 번호 확인했습니다 환불 처리",
        "네 감사합니다",
    ]
    found = keywords(segments, limit=3)
    assert found[0] == "환불"
    assert "네" not in found


def test_summary_picks_informative_segments_in_order() -> None:
    segments = [
        "네",
        "the parcel with the blue laptop never arrived",
        "uh okay",
        "we will refund the blue laptop today",
        "yes",
    ]
    summary = summarize(segments, max_segments=2)
    assert summary.text == f"{segments[1]} … {segments[3]}"
    assert summary.keywords[:2] == ["blue", "laptop"]


def test_empty_transcript() -> None:
    summary = summarize([])
    assert summary.text == ""
    assert summary.keywords == []
