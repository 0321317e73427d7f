from wordcount import count_words, top_words


def test_counts_single_spaced_words():
    assert count_words("the pixel is the program") == 5


def test_empty_text_has_no_words():
    assert count_words("") == 0


def test_top_words():
    assert top_words("a b a c a b", 2) == ["a", "b"]
