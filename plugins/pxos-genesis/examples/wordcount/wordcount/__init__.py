"""Count the words of a text."""

from .core import count_words, top_words

__all__ = ["count_words", "top_words"]
