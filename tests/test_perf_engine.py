"""The diff engine's own reading of two records' differences (objects and leaves) is DeepDiff's.

``_field_diffs`` compares two records field by field. Where they differ only in objects and leaves it walks them
itself (DeepDiff costs a millisecond a pair); arrays that differ are left to DeepDiff. Either way the fields are
DeepDiff's: the same paths, the same values on each side.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_segpendo.verify import engine
from pytest_segpendo.verify.report import ABSENT

KEYS = ["a", "b", "plan", "0", "kind", "timestamp"]
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, float("nan"), 1e300]),
    st.sampled_from(["", "x", "y", "1"]),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=10,
)
objects = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)


def shape(levels: list[tuple[Any, Any, Any]]) -> list[Any]:
    def one(v: Any) -> Any:
        if v is ABSENT:
            return ("absent",)
        if isinstance(v, float) and math.isnan(v):
            return ("nan",)
        return (type(v).__name__, repr(v))

    return sorted((tuple(map(repr, path)), one(e), one(a)) for path, e, a in levels)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    e = draw(objects)
    if draw(st.booleans()):
        return e, draw(objects)
    o = dict(e)  # a near copy: a few fields changed, added or removed
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=3)):
        if draw(st.booleans()):
            o[key] = draw(values)
        else:
            o.pop(key, None)
    return e, o


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=pairs())
def test_the_engines_own_reading_of_objects_is_deepdiffs(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    e, o = pair
    found: list[Any] = []
    if engine._object_levels(e, o, (), found):
        assert shape(found) == shape(engine._deepdiff_levels(e, o))


def test_it_reads_most_record_pairs_itself_and_leaves_differing_arrays_to_deepdiff() -> None:
    e = {"kind": "visitor", "id": "u1", "metadata": {"plan": "pro", "n": 1, "tags": ["a"]}}
    found: list[Any] = []
    assert engine._object_levels(e, {**e, "metadata": {**e["metadata"], "n": 1.0, "x": None}}, (), found)
    assert shape(found) == shape([(("metadata", "n"), 1, 1.0), (("metadata", "x"), ABSENT, None)])
    assert not engine._object_levels(e, {**e, "metadata": {**e["metadata"], "tags": ["b"]}}, (), [])


def test_the_threshold_is_deepdiffs_own() -> None:
    import inspect

    from deepdiff import DeepDiff

    default = inspect.signature(DeepDiff.__init__).parameters["threshold_to_diff_deeper"].default
    assert default == engine.DEEPER_THRESHOLD
