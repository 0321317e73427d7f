"""Word counting."""

from collections import Counter


def count_words(text: str) -> int:
    """The number of words in ``text`` (words are separated by single spaces)."""
    if not text:
        return 0
    return len(text.split(" "))


def top_words(text: str, n: int = 3) -> list:
    """The ``n`` most frequent words, most frequent first."""
    return [word for word, _ in Counter(text.lower().split(" ")).most_common(n)]
