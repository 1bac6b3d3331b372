"""The mapping-kit API as users call it (the engine's semantics are pinned by the differential suite)."""

from __future__ import annotations

import pytest

from pytest_segpendo.mapping import (
    UNDEFINED,
    MappingRuntimeError,
    MappingValidationError,
    UnsupportedDirective,
    compile_mapping,
    get_path,
    js_dumps,
    transform,
    transform_batch,
    validate_mapping,
)
from pytest_segpendo.mapping.js import js_number, js_string, js_truthy

EVENT = {
    "type": "identify",
    "userId": "u1",
    "traits": {"email": "Ann@Example.com", "plan": None, "tags": ["a", "b"], "company": {"name": "Acme", "size": 0}},
    "context": {"groupId": "g1"},
}


def test_a_field_mapping_like_segments_ui() -> None:
    mapping = {
        "visitorId": {"@path": "$.userId"},
        "email": {"@case": {"operator": "lower", "value": {"@path": "$.traits.email"}}},
        "account": {
            "@if": {
                "exists": {"@path": "$.context.groupId"},
                "then": {"@path": "$.context.groupId"},
                "else": {"@path": "$.groupId"},
            }
        },
        "label": {"@template": "{{traits.company.name}} ({{traits.tags}})"},
        "missing": {"@path": "$.traits.nothing"},
        "plan": {"@path": "$.traits.plan"},
    }
    assert transform(mapping, EVENT) == {
        "visitorId": "u1",
        "email": "ann@example.com",
        "account": "g1",
        "label": "Acme (a,b)",
        "plan": None,  # null is kept, undefined ("missing") is removed
    }


def test_path_lookup_quirks() -> None:
    assert get_path(EVENT, "traits.company.size.toFixed") == 0  # stops at a falsy value, returns it
    assert get_path(EVENT, "traits.tags[1]") == "b"
    assert get_path(EVENT, "traits.tags.length") == 2
    assert get_path(EVENT, "") is EVENT
    assert get_path(EVENT, "nope.deeper") is UNDEFINED


def test_top_level_directive_can_be_undefined_or_a_scalar() -> None:
    assert transform({"@path": "$.nothing"}, EVENT) is UNDEFINED
    assert transform({"@path": "$.userId"}, EVENT) == "u1"
    assert transform({"a": 1}) == {"a": 1}


def test_compiled_mappings_apply_to_many_events() -> None:
    compiled = compile_mapping({"id": {"@path": "$.userId"}, "n": {"@literal": 1.0}})
    assert [compiled({"userId": i}) for i in range(3)] == [
        {"id": 0, "n": 1.0},
        {"id": 1, "n": 1.0},
        {"id": 2, "n": 1.0},
    ]
    assert js_dumps(compiled({"userId": "x"})) == '{"id":"x","n":1}'  # JSON as JavaScript writes it


def test_transform_batch() -> None:
    assert transform_batch({"id": {"@path": "$.userId"}}, [{"userId": "a"}, {"userId": "b"}, {}]) == [
        {"id": "a"},
        {"id": "b"},
        {},
    ]
    with pytest.raises(MappingRuntimeError, match="data must be an array, got object"):
        transform_batch({}, {})  # type: ignore[arg-type]


def test_invalid_mappings_are_rejected_up_front_with_path_and_directive() -> None:
    with pytest.raises(MappingValidationError) as info:
        validate_mapping({"visitor": {"id": {"@path": 5}, "name": {"@case": {"operator": 1}}}, "x": {"@nope": 1}})
    assert info.value.messages == [
        "/visitor/id/@path should be a string or a mapping directive but it is a number.",
        "/visitor/name/@case/operator should be a string but it is a number.",
        "/x has an invalid directive: @nope.",
    ]
    with pytest.raises(MappingValidationError, match=r"^/ should only have one @-prefixed key but it has 2 keys\.$"):
        compile_mapping({"@path": "$.a", "@template": "b"})


def test_runtime_errors_are_those_of_the_engine() -> None:
    with pytest.raises(MappingRuntimeError, match="data must be an object, got array"):
        transform({"a": 1}, [])
    with pytest.raises(MappingRuntimeError, match="data must be an object, got null"):
        transform({"a": 1}, None)
    with pytest.raises(MappingRuntimeError, match="@path: expected string, got number"):
        transform({"a": [{"@path": 5}]}, {})  # arrays are not validated, so this fails at run time
    with pytest.raises(MappingRuntimeError, match='@replace requires a "pattern" less than 10 characters'):
        transform({"a": [{"@replace": {"pattern": "way too long", "value": "x"}}]}, {})


def test_liquid_is_refused_naming_the_field() -> None:
    with pytest.raises(UnsupportedDirective) as info:
        compile_mapping({"name": {"@liquid": "{{ traits.name | upcase }}"}})
    assert info.value.messages[0].startswith(
        "/name/@liquid @liquid is not supported by pytest-segpendo's mapping engine"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (123456789012345678901, "123456789012345680000"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e16, "10000000000000000"),
        (2e-6, "0.000002"),
    ],
)
def test_numbers_print_as_javascript_prints_them(value: float, text: str) -> None:
    assert js_number(value) == text


def test_js_truthiness_and_string_conversion() -> None:
    assert js_truthy([]) and js_truthy({}) and not js_truthy(0) and not js_truthy("") and not js_truthy(UNDEFINED)
    assert js_string([1, [2, None], "x"]) == "1,2,,x"
    assert js_string({"a": 1}) == "[object Object]"
    assert js_dumps({"b": 1, "2": 2, "1": 1, "a": [UNDEFINED]}) == '{"1":1,"2":2,"b":1,"a":[null]}'
