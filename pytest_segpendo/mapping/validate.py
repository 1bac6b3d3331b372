"""The mapping validator: ``validate.ts`` of ``@segment/actions-core``, message for message.

:func:`validate_processed` takes a mapping as the engine processes it (after ``__segment_internal_directive``
is applied) and raises :class:`~pytest_segpendo.mapping.MappingValidationError` listing every problem;
``@liquid`` is refused with :class:`~pytest_segpendo.mapping.UnsupportedDirective`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import (
    LIQUID_REFUSAL,
    MAX_PATTERN_LENGTH,
    MAX_REPLACEMENT_LENGTH,
    MappingValidationError,
    UnsupportedDirective,
    is_directive,
)
from .js import UNDEFINED, js_dumps, js_keys, real_type, utf16_len

__all__ = ["validate_processed"]

# -- validation ----------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, message: str, stack: list[str]):
        self.message = f"/{'/'.join(stack)} {message}."
        super().__init__(self.message)


class _Aggregate(Exception):
    def __init__(self, errors: list[_Invalid]):
        self.errors = errors
        super().__init__("\n".join(e.message for e in errors))


def _flat(errors: list[Exception]) -> list[_Invalid]:
    out: list[_Invalid] = []
    for e in errors:
        if isinstance(e, _Aggregate):
            out.extend(e.errors)
        else:
            assert isinstance(e, _Invalid)
            out.append(e)
    return out


def _article(word: str) -> str:
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def _type_or_directive(value: Any) -> str:
    t = real_type(value)
    if t == "object" and any(k.startswith("@") for k in value):
        return "directive"
    return t


def _v_directive(obj: Any, stack: list[str]) -> None:
    if not is_directive(obj) and type(obj) is not dict:
        t = real_type(obj)
        raise _Invalid(f"should be a directive object but it is {_article(t)} {t}", stack)
    keys = js_keys(obj)
    directive_keys = [k for k in keys if k.startswith("@")]
    if len(directive_keys) > 1:
        raise _Invalid(f"should only have one @-prefixed key but it has {len(directive_keys)} keys", stack)
    if any(not k.startswith("@") and k != "_metadata" for k in keys):
        raise _Invalid(f"should only have one @-prefixed key but it has {len(keys)} keys", stack)
    key = directive_keys[0]
    check = _CHECKS.get(key)
    if check is None:
        raise _Invalid(f"has an invalid directive: {key}", stack)
    check(obj[key], [*stack, key])


def _v_directive_or_raw(v: Any, stack: list[str]) -> None:
    t = _type_or_directive(v)
    if t == "directive":
        _v_directive(v, stack)
    elif t not in ("object", "array", "boolean", "string", "number", "null"):
        raise _Invalid(f"should be a mapping directive or a JSON value but it is {_article(t)} {t}", stack)


def _v_directive_or_string(v: Any, stack: list[str]) -> None:
    t = _type_or_directive(v)
    if t == "directive":
        _v_directive(v, stack)
    elif t != "string":
        raise _Invalid(f"should be a string or a mapping directive but it is {_article(t)} {t}", stack)


def _v_directive_or_object(v: Any, stack: list[str]) -> None:
    t = _type_or_directive(v)
    if t == "directive":
        _v_directive(v, stack)
    elif t == "object":
        _v_object(v, stack)
    else:
        raise _Invalid(f"should be a object or a mapping directive but it is {_article(t)} {t}", stack)


def _v_string(v: Any, stack: list[str]) -> None:
    t = _type_or_directive(v)
    if t != "string":
        raise _Invalid(f"should be a string but it is {_article(t)} {t}", stack)


def _v_length(low: int, high: int) -> Callable[[Any, list[str]], None]:
    def check(v: Any, stack: list[str]) -> None:
        if type(v) is str and utf16_len(v) < low:
            raise _Invalid(f"should be a string of length {low} or greater", stack)
        if type(v) is str and utf16_len(v) > high:
            raise _Invalid(f"should be a string of length {high} or less", stack)

    return check


def _v_allowed(*allowed: str) -> Callable[[Any, list[str]], None]:
    def check(v: Any, stack: list[str]) -> None:
        _v_string(v, stack)
        if v.lower() not in allowed:
            raise _Invalid(f"should be one of {', '.join(allowed)} but it is {js_dumps(v)}", stack)

    return check


def _v_boolean(v: Any, stack: list[str]) -> None:
    t = _type_or_directive(v)
    if t != "boolean":
        raise _Invalid(f"should be a boolean but it is {_article(t)} {t}", stack)


def _v_array(v: Any, stack: list[str]) -> None:
    t = real_type(v)
    if t != "array":
        raise _Invalid(f"should be an array but it is {_article(t)} {t}", stack)


def _v_object(value: Any, stack: list[str]) -> None:
    t = _type_or_directive(value)
    if t != "object":
        raise _Invalid(f"should be an object but it is {_article(t)} {t}", stack)
    errors: list[Exception] = []
    for key in js_keys(value):
        try:
            _validate(value[key], [*stack, key])
        except (_Invalid, _Aggregate) as e:
            errors.append(e)
    if errors:
        raise _Aggregate(_flat(errors))


Check = Callable[[Any, list[str]], None]


def _chain(*checks: Check) -> Check:
    def check(v: Any, stack: list[str]) -> None:
        for c in checks:
            c(v, stack)

    return check


def _v_fields(value: Any, fields: dict[str, tuple[bool, Check]], stack: list[str]) -> None:
    _v_object(value, stack)
    errors: list[Exception] = []
    for prop, (required, check) in fields.items():
        try:
            present = prop in value
            if required:
                if not present:
                    raise _Invalid(f'should have field "{prop}" but it doesn\'t', stack)
                check(value[prop], [*stack, prop])
            elif present:
                check(value[prop], [*stack, prop])
        except (_Invalid, _Aggregate) as e:
            errors.append(e)
    if errors:
        raise _Aggregate(_flat(errors))


def _fields(spec: dict[str, tuple[bool, Check]]) -> Check:
    return lambda v, stack: _v_fields(v, spec, stack)


def _c_array_path(v: Any, stack: list[str]) -> None:
    _v_array(v, stack)
    _v_directive_or_string(v[0] if v else UNDEFINED, stack)
    _validate(v[1] if len(v) > 1 else UNDEFINED, stack)


def _c_merge(v: Any, stack: list[str]) -> None:
    _v_fields(v, {"direction": (False, _v_allowed("left", "right")), "objects": (True, _v_array)}, stack)
    for obj in v["objects"]:
        _v_directive_or_object(obj, [])


_CHECKS: dict[str, Check] = {
    "@if": _fields(
        {
            "exists": (False, _v_directive_or_raw),
            "then": (False, _v_directive_or_raw),
            "else": (False, _v_directive_or_raw),
        }
    ),
    "@case": _fields({"operator": (False, _v_string), "value": (False, _v_directive_or_string)}),
    "@replace": _fields(
        {
            "pattern": (True, _chain(_v_string, _v_length(1, MAX_PATTERN_LENGTH))),
            "replacement": (False, _chain(_v_string, _v_length(0, MAX_REPLACEMENT_LENGTH))),
            "value": (True, _v_directive_or_string),
            "ignorecase": (False, _v_boolean),
            "global": (False, _v_boolean),
        }
    ),
    "@arrayPath": _c_array_path,
    "@path": _v_directive_or_string,
    "@json": _fields({"value": (True, _v_directive_or_raw), "mode": (True, _v_allowed("encode", "decode"))}),
    "@flatten": _fields({"separator": (False, _v_string), "value": (True, _v_directive_or_raw)}),
    "@merge": _c_merge,
    "@template": _v_directive_or_string,
    "@literal": _v_directive_or_raw,
    "@transform": _fields({"apply": (True, _v_directive_or_object), "mapping": (True, _v_directive_or_object)}),
    "@excludeWhenNull": _v_directive_or_raw,
    "@liquid": _v_string,
}


def _validate(mapping: Any, stack: list[str]) -> None:
    t = _type_or_directive(mapping)
    if t == "directive":
        _v_directive(mapping, stack)
    elif t == "object":
        _v_object(mapping, stack)
    elif t == "array":
        _v_array(mapping, stack)


def _find_liquid(mapping: Any, stack: list[str]) -> list[str] | None:
    if type(mapping) is dict:
        for key in js_keys(mapping):
            if key == "@liquid":
                return [*stack, key]
            found = _find_liquid(mapping[key], [*stack, key])
            if found:
                return found
    elif type(mapping) is list:
        for i, item in enumerate(mapping):
            found = _find_liquid(item, [*stack, str(i)])
            if found:
                return found
    return None


def validate_processed(mapping: Any) -> None:
    where = _find_liquid(mapping, [])
    if where:
        raise UnsupportedDirective([f"/{'/'.join(where)} {LIQUID_REFUSAL}."])
    try:
        _validate(mapping, [])
    except _Invalid as e:
        raise MappingValidationError([e.message]) from None
    except _Aggregate as e:
        raise MappingValidationError([x.message for x in e.errors]) from None
