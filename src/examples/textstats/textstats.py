"""Text statistics service: the plain-module apizr example.

A ``.py`` source skips the notebook conversion step: apizr analyzes this module
directly and exposes every public top-level function as ``POST /<name>``.
Helpers whose names start with an underscore stay private.
"""

import re
from collections import Counter

from pydantic import BaseModel, Field

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END_RE = re.compile(r"[.!?]+(?:\s|$)")
_VOWEL_GROUP_RE = re.compile(r"[aeiouy]+")

STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i in is it its of on or "
    "she that the their them they this to was were will with you your".split()
)


class TextStats(BaseModel):
    """Basic counts for a piece of text."""

    characters: int = Field(..., description="Number of characters, whitespace included.")
    words: int = Field(..., description="Number of words.")
    unique_words: int = Field(..., description="Number of distinct words, case-insensitive.")
    sentences: int = Field(..., description="Number of sentences (at least 1 for non-empty text).")
    avg_word_length: float = Field(..., description="Mean word length in characters.")


def _tokenize(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def _count_sentences(text: str) -> int:
    if not text.strip():
        return 0
    return max(1, len(_SENTENCE_END_RE.findall(text.strip() + " ")))


def _syllables(word: str) -> int:
    groups = _VOWEL_GROUP_RE.findall(word)
    count = len(groups) - (1 if word.endswith("e") and len(groups) > 1 else 0)
    return max(1, count)


def stats(text: str) -> TextStats:
    """Count characters, words and sentences.

    Args:
        text: Any UTF-8 text.

    Returns:
        Character, word, unique word and sentence counts, and the average word length.
    """
    words = _tokenize(text)
    return TextStats(
        characters=len(text),
        words=len(words),
        unique_words=len(set(words)),
        sentences=_count_sentences(text),
        avg_word_length=round(sum(map(len, words)) / len(words), 2) if words else 0.0,
    )


def top_words(text: str, n: int = 5, ignore_stopwords: bool = True) -> dict[str, int]:
    """Most frequent words.

    Ties are broken by first appearance in the text.

    Args:
        text: Any UTF-8 text.
        n: How many words to return.
        ignore_stopwords: Whether to skip common English words such as "the" and "and".

    Returns:
        Mapping of word to count, most frequent first.

    Raises:
        ValueError: If ``n`` is smaller than 1.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    words = [w for w in _tokenize(text) if not (ignore_stopwords and w in STOPWORDS)]
    return dict(Counter(words).most_common(n))


def reading_ease(text: str) -> float:
    """Flesch reading-ease score.

    Higher is easier: 90-100 is very easy, 60-70 is plain English, below 30 is very hard.
    Syllables are estimated with a vowel-group heuristic, so treat the score as approximate.

    Args:
        text: English text with at least one word.

    Returns:
        The score, rounded to one decimal.

    Raises:
        ValueError: If the text contains no words.
    """
    words = _tokenize(text)
    if not words:
        raise ValueError("text contains no words")
    sentences = _count_sentences(text)
    syllables = sum(_syllables(w) for w in words)
    score = 206.835 - 1.015 * len(words) / sentences - 84.6 * syllables / len(words)
    return round(score, 1)
