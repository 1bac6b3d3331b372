"""Segment's mapping-kit in Python: ``transform(mapping, event)`` as ``@segment/actions-core`` computes it."""

from __future__ import annotations

from .js import UNDEFINED, js_dumps
from .kit import (
    CompiledMapping,
    MappingError,
    MappingRuntimeError,
    MappingValidationError,
    UnsupportedDirective,
    compile_mapping,
    get_path,
    transform,
    transform_batch,
    validate_mapping,
)

__all__ = [
    "UNDEFINED",
    "CompiledMapping",
    "MappingError",
    "MappingRuntimeError",
    "MappingValidationError",
    "UnsupportedDirective",
    "compile_mapping",
    "get_path",
    "js_dumps",
    "transform",
    "transform_batch",
    "validate_mapping",
]
