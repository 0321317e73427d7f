import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from pxos_kernel.canonical import canonical_json, format_number

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_matches_the_reference_implementation(value):
    assert canonical_json(value).encode("utf-8") == rfc8785.dumps(value)


@pytest.mark.parametrize("x, text", [
    (0.0, "0"), (-0.0, "0"), (1.0, "1"), (100.0, "100"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
    (1e-7, "1e-7"), (0.000001, "0.000001"), (123.456, "123.456"), (-1.5e-9, "-1.5e-9"),
    (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
])
def test_numbers_follow_ecmascript(x, text):
    assert format_number(x) == text


def test_keys_sort_by_utf16_code_units():
    value = {"\U0001f600": 1, "\ufb01": 2, "a": 3}
    assert canonical_json(value) == rfc8785.dumps(value).decode("utf-8")
    assert canonical_json(value).index("\U0001f600") < canonical_json(value).index("\ufb01")


@pytest.mark.parametrize("bad", [math.nan, math.inf, 2**60, {1: "x"}, object()])
def test_unrepresentable_values_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        canonical_json([bad])
