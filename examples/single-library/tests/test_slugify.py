from slugkit import slugify


def test_words_are_joined_lower_case() -> None:
    assert slugify("Hello, World!") == "hello-world"


def test_accents_fold_to_ascii() -> None:
    assert slugify("Crème brûlée", separator="_") == "creme_brulee"
