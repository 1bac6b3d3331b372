"""A Python port of Segment's mapping-kit (``@segment/actions-core`` 3.170.0, ``mapping-kit/index.ts``).

``transform(mapping, event)`` gives what Segment's engine gives, JavaScript quirks included (undefined removed
but null kept, path lookup that stops at falsy values, JavaScript truthiness and string conversion). Mappings are
compiled once into closures (:func:`compile_mapping`), so applying one to many events is fast. The differential
suite in ``tests/test_mapping_differential.py`` checks the port against the real engine under Node.js.

A mapping is validated (:mod:`.validate`, the engine's ``validate.ts``) before it is compiled. ``@liquid`` is refused
with :class:`UnsupportedDirective` (see ``docs/mapping.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, cast

from .base import (
    LIQUID_REFUSAL,
    MAX_PATTERN_LENGTH,
    MAX_REPLACEMENT_LENGTH,
    ROOT_KEY,
    MappingError,
    MappingRuntimeError,
    MappingValidationError,
    UnsupportedDirective,
    is_directive,
)
from .js import (
    UNDEFINED,
    JsFunction,
    from_utf16_units,
    is_index_key,
    js_dumps,
    js_keys,
    js_loose_equals_empty,
    js_string,
    js_truthy,
    json_parse,
    real_type,
    utf16_len,
    utf16_units,
)
from .validate import validate_processed

__all__ = [
    "CompiledMapping",
    "MappingError",
    "MappingRuntimeError",
    "MappingValidationError",
    "UnsupportedDirective",
    "compile_mapping",
    "get_path",
    "transform",
    "transform_batch",
    "validate_mapping",
]

Node = Callable[[Any], Any]


# -- JavaScript property access -----------------------------------------------------------------------------

# Names of the built-in methods each prototype has (Node.js 20), with the function's own name.
_PROTO_METHODS: dict[str, dict[str, str]] = {
    "object": {
        "constructor": "Object",
        "__defineGetter__": "__defineGetter__",
        "__defineSetter__": "__defineSetter__",
        "hasOwnProperty": "hasOwnProperty",
        "__lookupGetter__": "__lookupGetter__",
        "__lookupSetter__": "__lookupSetter__",
        "isPrototypeOf": "isPrototypeOf",
        "propertyIsEnumerable": "propertyIsEnumerable",
        "toString": "toString",
        "valueOf": "valueOf",
        "toLocaleString": "toLocaleString",
    },
    "array": {
        name: name
        for name in [
            "at",
            "concat",
            "copyWithin",
            "fill",
            "find",
            "findIndex",
            "findLast",
            "findLastIndex",
            "lastIndexOf",
            "pop",
            "push",
            "reverse",
            "shift",
            "unshift",
            "slice",
            "sort",
            "splice",
            "includes",
            "indexOf",
            "join",
            "keys",
            "entries",
            "values",
            "forEach",
            "filter",
            "flat",
            "flatMap",
            "map",
            "every",
            "some",
            "reduce",
            "reduceRight",
            "toLocaleString",
            "toString",
            "toReversed",
            "toSorted",
            "toSpliced",
            "with",
        ]
    }
    | {"constructor": "Array"},
    "string": {
        name: name
        for name in [
            "anchor",
            "at",
            "big",
            "blink",
            "bold",
            "charAt",
            "charCodeAt",
            "codePointAt",
            "concat",
            "endsWith",
            "fontcolor",
            "fontsize",
            "fixed",
            "includes",
            "indexOf",
            "isWellFormed",
            "italics",
            "lastIndexOf",
            "link",
            "localeCompare",
            "match",
            "matchAll",
            "normalize",
            "padEnd",
            "padStart",
            "repeat",
            "replace",
            "replaceAll",
            "search",
            "slice",
            "small",
            "split",
            "strike",
            "sub",
            "substr",
            "substring",
            "sup",
            "startsWith",
            "toString",
            "toWellFormed",
            "trim",
            "trimStart",
            "trimEnd",
            "toLocaleLowerCase",
            "toLocaleUpperCase",
            "toLowerCase",
            "toUpperCase",
            "valueOf",
        ]
    }
    | {"constructor": "String", "trimLeft": "trimStart", "trimRight": "trimEnd"},
    "number": {
        "constructor": "Number",
        "toExponential": "toExponential",
        "toFixed": "toFixed",
        "toPrecision": "toPrecision",
        "toString": "toString",
        "valueOf": "valueOf",
        "toLocaleString": "toLocaleString",
    },
    "boolean": {"constructor": "Boolean", "toString": "toString", "valueOf": "valueOf"},
    "function": {"constructor": "Function", "apply": "apply", "bind": "bind", "call": "call", "toString": "toString"},
}
_MISSING = object()


def _inherited(kind: str, key: str) -> Any:
    name = _PROTO_METHODS[kind].get(key)
    if name is None and kind != "object":
        name = _PROTO_METHODS["object"].get(key)
    if name is not None:
        return JsFunction(name)
    if key == "__proto__":
        if kind == "object":
            return {}
        if kind == "array":
            return []
    return UNDEFINED


def _prop(obj: Any, key: str) -> Any:
    """``obj[key]`` in JavaScript, for a truthy ``obj``."""
    if isinstance(obj, dict):
        value = obj.get(key, _MISSING)
        return _inherited("object", key) if value is _MISSING else value
    if isinstance(obj, list):
        if key == "length":
            return len(obj)
        if is_index_key(key):
            i = int(key)
            return obj[i] if i < len(obj) else UNDEFINED
        return _inherited("array", key)
    if isinstance(obj, str):
        if key == "length":
            return utf16_len(obj)
        if is_index_key(key):
            units = utf16_units(obj)
            i = int(key)
            return units[i] if i < len(units) else UNDEFINED
        return _inherited("string", key)
    if obj is True:
        return _inherited("boolean", key)
    if isinstance(obj, (int, float)):
        return _inherited("number", key)
    if isinstance(obj, JsFunction):
        return obj.name if key == "name" else _inherited("function", key)
    return UNDEFINED


# ``get.ts``: split on "[" before a quote or digit, on ".", and on "]" runs after a quote or digit.
_PATH_SPLIT = re.compile(r"\[(?=[\"'0-9])|\.|(?<=[\"'0-9])\]+")


def split_path(path: str) -> tuple[str, ...]:
    return tuple(s.replace("'", "").replace('"', "") for s in _PATH_SPLIT.split(path) if s)


def _walk(obj: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if type(obj) is dict:  # the common case, inlined (an object is always truthy)
            value = obj.get(key, _MISSING)
            obj = _inherited("object", key) if value is _MISSING else value
        elif not js_truthy(obj):
            return obj
        else:
            obj = _prop(obj, key)
    return obj


def _object_miss(key: str) -> Any:
    """What ``obj[key]`` gives for an object without that own key, when it can be shared (None: compute it)."""
    return None if key == "__proto__" else _inherited("object", key)


def get_path(obj: Any, path: str) -> Any:
    """``get(obj, path)`` of actions-core: ``a.b``, ``a[0]``, ``a['k']``; ``''`` and ``'.'`` give ``obj``."""
    if path == "" or path == ".":
        return obj
    return _walk(obj, split_path(path))


# -- templates ----------------------------------------------------------------------------------------------

_TRIPLE = re.compile(r"\{\{\{([^}]+)\}\}\}")
_DOUBLE = re.compile(r"\{\{([^}]+)\}\}")
_JS_WHITESPACE = (
    "\t\n\x0b\x0c\r "
    "\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def _placeholder(data: Any, key: str) -> str:
    value = get_path(data, key.strip(_JS_WHITESPACE))
    return "" if value is None or value is UNDEFINED else js_string(value)


def render_template(template: str, data: Any) -> str:
    """``placeholders.render``: ``{{{k}}}`` first, then ``{{k}}`` over the result; no escaping."""
    if "{{{" in template:
        template = _TRIPLE.sub(lambda m: _placeholder(data, m.group(1)), template)
    return _DOUBLE.sub(lambda m: _placeholder(data, m.group(1)), template)


def _compile_template(template: str) -> Node:
    if "{{{" in template:
        return lambda p: render_template(template, p)
    pieces: list[str | Node] = []
    pos = 0
    for m in _DOUBLE.finditer(template):
        pieces.append(template[pos : m.start()])
        key = m.group(1).strip(_JS_WHITESPACE)
        pieces.append(_keys_node(() if key in ("", ".") else split_path(key)))
        pos = m.end()
    pieces.append(template[pos:])
    if len(pieces) == 1:
        return lambda p: template

    def render(p: Any) -> str:
        out = []
        for piece in pieces:
            if type(piece) is str:
                out.append(piece)
            else:
                value = piece(p)  # type: ignore[operator]
                if value is not None and value is not UNDEFINED:
                    out.append(value if type(value) is str else js_string(value))
        return "".join(out)

    return render


# -- @replace -------------------------------------------------------------------------------------------------


def _canonical(unit: str) -> str:
    """ES ``Canonicalize`` without the unicode flag: upper-case a UTF-16 unit unless that changes its class."""
    up = unit.upper()
    if len(up) != 1 or (ord(unit) >= 128 and ord(up) < 128):
        return unit
    return up


def _substitute(replacement: str, matched: list[str], before: list[str], after: list[str]) -> list[str]:
    """``GetSubstitution`` for a pattern without capture groups, over UTF-16 units."""
    if "$" not in replacement:
        return utf16_units(replacement)
    units = utf16_units(replacement)
    out: list[str] = []
    i = 0
    while i < len(units):
        u = units[i]
        if u == "$" and i + 1 < len(units):
            nxt = units[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "&":
                out.extend(matched)
                i += 2
                continue
            if nxt == "`":
                out.extend(before)
                i += 2
                continue
            if nxt == "'":
                out.extend(after)
                i += 2
                continue
        out.append(u)
        i += 1
    return out


def _perform_replace(value: str, pattern: str, replacement: str, global_: bool, ignorecase: bool) -> str:
    if utf16_len(pattern) > MAX_PATTERN_LENGTH:
        raise MappingRuntimeError([f'@replace requires a "pattern" less than {MAX_PATTERN_LENGTH} characters'])
    if utf16_len(replacement) > MAX_REPLACEMENT_LENGTH:
        raise MappingRuntimeError([f'@replace requires a "replacement" less than {MAX_REPLACEMENT_LENGTH} characters'])
    if not ignorecase and "$" not in replacement and value.isascii() and pattern.isascii():
        return value.replace(pattern, replacement) if global_ else value.replace(pattern, replacement, 1)
    hay = utf16_units(value)
    needle = utf16_units(pattern)
    if ignorecase:
        hay_cmp = [_canonical(u) for u in hay]
        needle_cmp = [_canonical(u) for u in needle]
    else:
        hay_cmp, needle_cmp = hay, needle
    n = len(needle)
    out: list[str] = []
    i = 0
    start = 0
    while i + n <= len(hay):
        if hay_cmp[i : i + n] == needle_cmp:
            out.extend(hay[start:i])
            out.extend(_substitute(replacement, hay[i : i + n], hay[:i], hay[i + n :]))
            i += n
            start = i
            if not global_:
                break
        else:
            i += 1
    out.extend(hay[start:])
    return from_utf16_units(out)


# -- helpers shared by directives ---------------------------------------------------------------------------


def _assign(target: dict[str, Any], source: Any) -> None:
    """``Object.assign(target, source)`` for one source."""
    if isinstance(source, dict):
        for key in js_keys(source):
            if key != "__proto__":
                target[key] = source[key]
    elif isinstance(source, list):
        for i, value in enumerate(source):
            target[str(i)] = value
    elif isinstance(source, str):
        for i, unit in enumerate(utf16_units(source)):
            target[str(i)] = unit


def _flatten(value: Any, prefix: str, separator: str, omit_arrays: bool) -> dict[str, Any]:
    if isinstance(value, dict) or (not omit_arrays and isinstance(value, list)):
        items = (
            ((k, value[k]) for k in js_keys(value))
            if isinstance(value, dict)
            else ((str(i), v) for i, v in enumerate(value))
        )
        acc: dict[str, Any] = {}
        for key, item in items:
            sub = _flatten(item, f"{prefix}{separator}{key}" if prefix else key, separator, omit_arrays)
            for k in js_keys(sub):
                acc[k] = sub[k]
        return acc
    return {prefix: value}


def _clean_nulls(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    cleaned = {}
    for key in js_keys(value):
        if key == "__proto__":
            continue
        item = value[key]
        cleaned[key] = UNDEFINED if item is None else _clean_nulls(item) if isinstance(item, dict) else item
    return cleaned


def json_view(value: Any) -> Any:
    """A result as JSON sees it: undefined and functions dropped from objects, written as null in arrays."""
    t = type(value)
    if t is list:
        return [
            v if type(v) in _LEAVES else None if (v is UNDEFINED or type(v) is JsFunction) else json_view(v)
            for v in value
        ]
    if t is dict:
        return {
            k: v if type(v) in _LEAVES else json_view(v)
            for k, v in value.items()
            if v is not UNDEFINED and type(v) is not JsFunction and k != "__proto__"
        }
    return UNDEFINED if t is JsFunction else value


_LEAVES = frozenset((str, int, float, bool, type(None)))  # values json_view gives back as they are


def remove_undefined(value: Any) -> Any:
    """``removeUndefined``: drop keys holding undefined, recursively (undefined array items stay)."""
    t = type(value)
    if t is list:
        return [remove_undefined(v) for v in value]
    if t is dict:
        return {k: remove_undefined(v) for k, v in value.items() if v is not UNDEFINED and k != "__proto__"}
    return value


def _js_typeof(value: Any) -> str:
    t = real_type(value)
    return "object" if t in ("object", "array", "null") else t


def _fail(message: str) -> Node:
    def raise_(_: Any) -> Any:
        raise MappingRuntimeError([message])

    return raise_


# -- the compiler: resolve() as closures --------------------------------------------------------------------


def _const(value: Any) -> Node:
    return lambda _p: value


def _compile(mapping: Any) -> Node:
    t = type(mapping)
    if t is dict:
        if is_directive(mapping):
            return _compile_directive(mapping)
        keys = js_keys(mapping)
        parts = [(k, _compile(mapping[k])) for k in keys]
        if any(k == "__proto__" for k in keys):
            # Setting "__proto__" on a new object changes its prototype: the key never shows.
            def resolve_obj_proto(p: Any) -> dict[str, Any]:
                out = {}
                for k, f in parts:
                    v = f(p)
                    if k != "__proto__":
                        out[k] = v
                return out

            return resolve_obj_proto
        return lambda p: {k: f(p) for k, f in parts}
    if t is list:
        items = [_compile(v) for v in mapping]
        return lambda p: [f(p) for f in items]
    return _const(mapping)


def _compile_directive(obj: dict[str, Any]) -> Node:
    name = next(k for k in js_keys(obj) if k.startswith("@"))
    arg = obj[name]
    builder = _BUILDERS.get(name)
    if builder is None:
        return _fail(f"{name} is not a valid directive, got undefined")
    return builder(arg)


def _string_directive(name: str, arg: Any, build: Callable[[str], Node] | None, run: Callable[[str, Any], Any]) -> Node:
    if type(arg) is str and build is not None:
        return build(arg)
    value = _compile(arg)

    def directive(p: Any) -> Any:
        s = value(p)
        if type(s) is not str:
            raise MappingRuntimeError([f"{name}: expected string, got {real_type(s)}"])
        return run(s, p)

    return directive


def _path_node(path: str) -> Node:
    path = path.replace("$.", "", 1)
    if path == "" or path == ".":
        return lambda p: p
    return _keys_node(split_path(path))


def _keys_node(keys: tuple[str, ...]) -> Node:
    """A compiled ``get(p, keys)``: objects along the way read inline (the usual case), anything else walked as
    ``_walk`` walks it."""
    if not keys or "__proto__" in keys or len(keys) > 3:
        return lambda p: _walk(p, keys)
    misses = [_object_miss(k) for k in keys]
    if len(keys) == 1:
        (key,) = keys
        (miss,) = misses

        def one(p: Any) -> Any:
            if type(p) is dict:
                return p.get(key, miss)
            return _walk(p, keys)

        return one
    if len(keys) == 2:
        k1, k2 = keys
        m1, m2 = misses
        rest2 = keys[1:]

        def two(p: Any) -> Any:
            if type(p) is dict:
                v = p.get(k1, m1)
                if type(v) is dict:
                    return v.get(k2, m2)
                return _walk(v, rest2)
            return _walk(p, keys)

        return two
    k1, k2, k3 = keys
    m1, m2, m3 = misses
    tail2, tail3 = keys[1:], keys[2:]

    def three(p: Any) -> Any:
        if type(p) is dict:
            v = p.get(k1, m1)
            if type(v) is dict:
                v = v.get(k2, m2)
                if type(v) is dict:
                    return v.get(k3, m3)
                return _walk(v, tail3)
            return _walk(v, tail2)
        return _walk(p, keys)

    return three


def _b_path(arg: Any) -> Node:
    return _string_directive("@path", arg, _path_node, lambda s, p: get_path(p, s.replace("$.", "", 1)))


def _b_template(arg: Any) -> Node:
    return _string_directive("@template", arg, _compile_template, render_template)


def _b_literal(arg: Any) -> Node:
    return _compile(arg)


def _b_if(opts: Any) -> Node:
    if type(opts) is not dict:
        return _fail('@if requires an object with an "exists" key')
    if not js_truthy(opts.get("exists", UNDEFINED)) and not js_truthy(opts.get("blank", UNDEFINED)):
        return _fail('@if requires an "exists" key or a "blank" key')
    if "exists" in opts:
        probe, blank = _compile(opts["exists"]), False
    else:
        probe, blank = _compile(opts["blank"]), True
    then = _compile(opts["then"]) if "then" in opts else None
    other = _compile(opts["else"]) if js_truthy(opts.get("else", UNDEFINED)) else None

    def if_(p: Any) -> Any:
        v = probe(p)
        cond = v is not None and v is not UNDEFINED and not (blank and js_loose_equals_empty(v))
        if cond:
            return then(p) if then is not None else UNDEFINED
        return other(p) if other is not None else UNDEFINED

    return if_


def _b_case(opts: Any) -> Node:
    if type(opts) is not dict:
        return _fail('@case requires an object with a "operator" key')
    operator = opts.get("operator", UNDEFINED)
    if not js_truthy(operator):
        return _fail('@case requires a "operator" key')
    if not js_truthy(opts.get("value", UNDEFINED)):
        return _const(UNDEFINED)
    value = _compile(opts["value"])

    def case(p: Any) -> Any:
        v = value(p)
        if type(v) is str:
            if operator == "lower":
                return v.lower()
            if operator == "upper":
                return v.upper()
            raise MappingRuntimeError(['operator key should have a value of "lower" or "upper"'])
        return v

    return case


def _b_replace(opts: Any) -> Node:
    if type(opts) is not dict:
        return _fail('@replace requires an object with a "pattern" key')
    pattern = opts.get("pattern", UNDEFINED)
    if not js_truthy(pattern):
        return _fail('@replace requires a "pattern" key')
    replacement = opts.get("replacement")
    replacement = "" if replacement is None else replacement
    pattern2 = opts.get("pattern2", UNDEFINED)
    replacement2: Any = opts.get("replacement2")  # user JSON; used only when it is a str (see `second`)
    if js_truthy(pattern2) and replacement2 is None:
        replacement2 = ""
    ignorecase = opts.get("ignorecase")
    ignorecase = False if ignorecase is None else ignorecase
    global_ = opts.get("global")
    global_ = True if global_ is None else global_
    if not js_truthy(opts.get("value", UNDEFINED)):
        return _const(UNDEFINED)
    value = _compile(opts["value"])
    types_ok = type(pattern) is str and type(replacement) is str and type(ignorecase) is bool and type(global_) is bool
    second = js_truthy(pattern2) and type(pattern2) is str and type(replacement2) is str

    def replace(p: Any) -> Any:
        v = value(p)
        if type(v) is bool or (type(v) in (int, float)):
            v = js_string(v)
        if type(v) is not str or not types_ok:
            return ""
        out = _perform_replace(v, pattern, replacement, global_, ignorecase)
        if second:
            out = _perform_replace(out, pattern2, replacement2, global_, ignorecase)
        return out

    return replace


def _b_array_path(arg: Any) -> Node:
    if type(arg) is not list:
        return _fail(f"@arrayPath expected array, got {real_type(arg)}")
    path = arg[0] if arg else UNDEFINED
    shape = arg[1] if len(arg) > 1 else UNDEFINED
    root = _path_node(path) if type(path) is str else _compile(path)
    if type(shape) is not dict or not shape:
        return root
    item = _compile(shape)

    def array_path(p: Any) -> Any:
        r = root(p)
        if type(r) is dict:
            return [item(r)]
        if type(r) is list:
            return [item(x) for x in r]
        return r

    return array_path


def _b_json(opts: Any) -> Node:
    if type(opts) is not dict:
        return _fail('@json requires an object with a "value" key')
    mode = opts.get("mode", UNDEFINED)
    if not js_truthy(mode):
        return _fail('@json requires a "mode" key')
    if not js_truthy(opts.get("value", UNDEFINED)):
        return _fail('@json requires a "value" key')
    value = _compile(opts["value"])
    if mode == "encode":

        def encode(p: Any) -> Any:
            text = js_dumps(value(p))
            return UNDEFINED if text is None else text

        return encode
    if mode == "decode":

        def decode(p: Any) -> Any:
            v = value(p)
            if type(v) is str:
                try:
                    return json_parse(v)
                except ValueError:
                    return v
            return v

        return decode

    def other(p: Any) -> Any:
        value(p)
        return UNDEFINED

    return other


def _b_flatten(opts: Any) -> Node:
    if type(opts) is not dict:
        return _fail('@flatten requires an object with a "separator" key')
    if not js_truthy(opts.get("separator", UNDEFINED)):
        return _fail('@flatten requires a "separator" key')
    separator = _compile(opts["separator"])
    value = _compile(opts.get("value", UNDEFINED))
    omit = js_truthy(opts.get("omitArrays", UNDEFINED))

    def flatten(p: Any) -> Any:
        sep = separator(p)
        if type(sep) is not str:
            raise MappingRuntimeError(["@flatten requires a string separator"])
        return _flatten(value(p), "", sep, omit)

    return flatten


def _b_merge(opts: Any) -> Node:
    if type(opts) is not dict:
        return _fail('@merge requires an object with an "objects" key and a "direction" key')
    if not js_truthy(opts.get("direction", UNDEFINED)):
        return _fail('@merge requires a "direction" key')
    direction = _compile(opts["direction"])
    objects = opts.get("objects", UNDEFINED)
    if not js_truthy(objects) or type(objects) is not list:
        message = (
            '@merge requires a "objects" key'
            if not js_truthy(objects)
            else f"@merge: expected opts.array, got {_js_typeof(objects)}"
        )

        def bad_objects(p: Any) -> Any:
            direction(p)  # resolved before the engine looks at `objects`
            raise MappingRuntimeError([message])

        return bad_objects
    parts = [_compile(o) for o in objects]

    def merge(p: Any) -> Any:
        d = direction(p)
        resolved = [f(p) for f in parts]
        if d == "left":
            resolved.reverse()
        out: dict[str, Any] = {}
        for o in resolved:
            _assign(out, o)
        return out

    return merge


def _b_transform(opts: Any) -> Node:
    if type(opts) is not dict:
        return _fail('@transform requires an object with an "apply" key and a "mapping" key')
    if not js_truthy(opts.get("mapping", UNDEFINED)):
        return _fail('@transform requires a "mapping" key')
    apply = opts.get("apply", UNDEFINED)
    if not js_truthy(apply):
        return _fail('@transform requires a "apply" key')
    if type(apply) is not dict:
        return _fail('@transform "apply" key should be an object')
    mapping = _compile(opts["mapping"])
    inner: list[CompiledMapping | MappingError] = []

    def transform_(p: Any) -> Any:
        if type(p) is not dict:
            raise MappingRuntimeError([f"data must be an object, got {real_type(p)}"])
        if not inner:  # the engine validates `apply` on every call; the outcome never changes
            try:
                inner.append(CompiledMapping(apply))
            except MappingError as exc:
                inner.append(exc)
        compiled = inner[0]
        if isinstance(compiled, MappingError):
            raise compiled
        return mapping(remove_undefined(compiled.resolve(p)))

    return transform_


def _b_exclude_when_null(arg: Any) -> Node:
    value = _compile(arg)

    def exclude(p: Any) -> Any:
        v = value(p)
        return UNDEFINED if v is None else _clean_nulls(v)

    return exclude


def _b_liquid(arg: Any) -> Node:
    return _fail(LIQUID_REFUSAL)


_BUILDERS: dict[str, Callable[[Any], Node]] = {
    "@path": _b_path,
    "@template": _b_template,
    "@literal": _b_literal,
    "@if": _b_if,
    "@case": _b_case,
    "@replace": _b_replace,
    "@arrayPath": _b_array_path,
    "@json": _b_json,
    "@flatten": _b_flatten,
    "@merge": _b_merge,
    "@transform": _b_transform,
    "@excludeWhenNull": _b_exclude_when_null,
    "@liquid": _b_liquid,
}


def _mapping_to_process(mapping: Any) -> Any:
    """``getMappingToProcess``: spread the mapping; apply ``__segment_internal_directive``."""
    if mapping is None or mapping is UNDEFINED:
        raise MappingRuntimeError(["Cannot convert undefined or null to object"])
    if type(mapping) is dict:
        if ROOT_KEY not in mapping:
            return dict(mapping)
        root = mapping[ROOT_KEY]
        customer = {k: mapping[k] for k in js_keys(mapping) if k != ROOT_KEY}
        if root is None:
            raise MappingRuntimeError(["Cannot convert undefined or null to object"])
        if type(root) is dict:
            keys = js_keys(root)
        elif type(root) is list:
            keys = [str(i) for i in range(len(root))]
        elif type(root) is str:
            keys = [str(i) for i in range(utf16_len(root))]
        else:
            keys = []
        if len(keys) > 1:
            raise MappingRuntimeError(["The root mapping must only have a single directive object"])
        first = keys[0] if keys else "undefined"
        directive = _prop(root, first) if js_truthy(root) else UNDEFINED
        if not js_truthy(directive) or type(directive) not in (dict, list):
            raise MappingRuntimeError(["The root directive must be an object"])
        if type(directive) is dict:  # the engine sets `rootDirective.mapping = customerMappings`
            with_mapping = {**directive, "mapping": customer}
            if type(root) is dict:
                root = {**root, first: with_mapping}
            else:
                root = list(root)
                root[int(first)] = with_mapping
        return root
    if type(mapping) is list:
        return {str(i): v for i, v in enumerate(mapping)}
    if type(mapping) is str:
        return {str(i): u for i, u in enumerate(utf16_units(mapping))}
    return {}


def validate_mapping(mapping: Any) -> None:
    """Raise :class:`MappingValidationError` listing every problem, as the engine's ``validate`` does."""
    validate_processed(_mapping_to_process(mapping))


class CompiledMapping:
    """A validated mapping, compiled once; call it with an event to map the event."""

    __slots__ = ("mapping", "_node", "fields")

    def __init__(self, mapping: Any):
        self.mapping = mapping
        processed = _mapping_to_process(mapping)
        validate_processed(processed)
        self.fields: list[tuple[str, Node]] | None = None
        """For a mapping that is an object of fields (an action's field mappings): each field and its compiled
        mapping, in the order the engine resolves them; ``resolve`` gives ``{field: node(data)}``."""
        if type(processed) is dict and not is_directive(processed) and "__proto__" not in processed:
            fields = self.fields = [(k, _compile(processed[k])) for k in js_keys(processed)]
            self._node: Node = lambda p: {k: f(p) for k, f in fields}
        else:
            self._node = _compile(processed)

    def __call__(self, data: Any = UNDEFINED) -> Any:
        """The mapped event as JSON values (or :data:`UNDEFINED`); ``data`` must be an object."""
        if data is UNDEFINED:
            data = {}
        if type(data) is not dict:
            raise MappingRuntimeError([f"data must be an object, got {real_type(data)}"])
        return json_view(self._node(data))

    def resolve(self, data: Any) -> Any:
        """The engine's raw ``resolve`` result: may hold :data:`UNDEFINED` values and functions."""
        return self._node(data)


def compile_mapping(mapping: Any) -> CompiledMapping:
    """Validate ``mapping`` and compile it; raises :class:`MappingError` for a mapping the engine refuses."""
    return CompiledMapping(mapping)


def transform(mapping: Any, data: Any = UNDEFINED) -> Any:
    """Map one event as ``transform(mapping, data)`` of ``@segment/actions-core`` does.

    The result is what the engine's result serialises to: JSON values, or :data:`UNDEFINED` when the mapping
    is a directive that found nothing. Omitting ``data`` maps an empty event, as the engine does.
    """
    if data is not UNDEFINED and type(data) is not dict:
        raise MappingRuntimeError([f"data must be an object, got {real_type(data)}"])
    return CompiledMapping(mapping)(data)


def transform_batch(mapping: Any, items: Iterable[Any]) -> list[Any]:
    """``transformBatch``: validate once, map every item (items are not type-checked, as in the engine)."""
    if not isinstance(items, list):
        raise MappingRuntimeError([f"data must be an array, got {real_type(items)}"])
    compiled = CompiledMapping(mapping)
    return cast("list[Any]", json_view([compiled.resolve(item) for item in items]))  # json_view keeps a list a list
