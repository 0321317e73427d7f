"""``pxos-kernel run count --cartridge wordcount -- some words``"""

from .core import count_words


def main(*words: str) -> int:
    print(count_words(" ".join(words)))
    return 0
