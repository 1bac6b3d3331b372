"""Old import paths, kept for one release: importing one warns (DeprecationWarning) and gives the module at its
new place, the very same module object, so classes stay identical (``isinstance`` keeps working).

=====================================  ==========================================
old path (0.1)                         new path
=====================================  ==========================================
``pytest_segpendo.pendo``              ``pytest_segpendo.fakes.pendo``
``pytest_segpendo.segment``            ``pytest_segpendo.fakes.segment`` (the fake),
                                       ``pytest_segpendo.delivery`` (``deliver``)
``pytest_segpendo.segment.delivery``   ``pytest_segpendo.delivery``
``pytest_segpendo.check``              ``pytest_segpendo.conformance``
``pytest_segpendo.server``             ``pytest_segpendo.fakes.core.server``
``pytest_segpendo.fakeapp``            ``pytest_segpendo.fakes.core.app``
``pytest_segpendo.httpkit``            ``pytest_segpendo.fakes.core.httpkit``
``pytest_segpendo.faults``             ``pytest_segpendo.fakes.core.faults``
=====================================  ==========================================
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from collections.abc import Sequence

__all__ = ["MOVED", "install"]

MOVED: dict[str, str] = {
    "pytest_segpendo.segment.delivery": "pytest_segpendo.delivery",
    "pytest_segpendo.pendo": "pytest_segpendo.fakes.pendo",
    "pytest_segpendo.segment": "pytest_segpendo.fakes.segment",
    "pytest_segpendo.check": "pytest_segpendo.conformance",
    "pytest_segpendo.server": "pytest_segpendo.fakes.core.server",
    "pytest_segpendo.fakeapp": "pytest_segpendo.fakes.core.app",
    "pytest_segpendo.httpkit": "pytest_segpendo.fakes.core.httpkit",
    "pytest_segpendo.faults": "pytest_segpendo.fakes.core.faults",
}

# What the old ``pytest_segpendo.segment`` and ``pytest_segpendo.check`` also exported from elsewhere.
_ALSO = {
    "pytest_segpendo.segment": ("pytest_segpendo.delivery", ("VIAS", "DeliveryReport", "deliver", "sign")),
}


def _new_name(fullname: str) -> str | None:
    for old in sorted(MOVED, key=len, reverse=True):  # the longest prefix first
        if fullname == old or fullname.startswith(old + "."):
            return MOVED[old] + fullname[len(old) :]
    return None


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module(self.new)
        extra = _ALSO.get(spec.name)
        if extra is None:
            return module
        # a module of its own: the new module's names plus what the old one also exported
        merged = types.ModuleType(spec.name, module.__doc__)
        merged.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
        other = importlib.import_module(extra[0])
        for name in extra[1]:
            setattr(merged, name, getattr(other, name))
        merged.__path__ = list(getattr(module, "__path__", []))  # so that old submodule paths still import
        return merged

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = _new_name(fullname)
        if new is None:
            return None
        warnings.warn(
            f"{fullname} is deprecated and will be removed in the next release: import {new} instead",
            DeprecationWarning,
            stacklevel=_caller_level(),
        )
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def _caller_level() -> int:
    """The stack level of the first frame outside the import machinery (the user's import statement)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib") or frame.f_code.co_filename == __file__
    ):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def install() -> None:
    """Put the finder of old paths on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())  # before the path finder, which would load a second copy
