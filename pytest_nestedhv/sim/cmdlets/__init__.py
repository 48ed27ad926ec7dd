"""Cmdlet implementations over the model, one module per area; each exposes ``CMDLETS``
(canonical cmdlet name -> impl) and may expose ``APPLICATIONS`` (native programs such as bcdedit).
Modules whose names start with "_" are helpers. ``all_cmdlets()`` / ``all_applications()`` merge them.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from typing import Any

from ..powershell.cmdlet import Impl


def _modules() -> list[Any]:
    return [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)
            if not m.name.startswith("_")]


def all_cmdlets() -> dict[str, Impl]:
    merged: dict[str, Impl] = {}
    for module in _modules():
        merged.update(getattr(module, "CMDLETS", {}))
    return merged


def all_applications() -> dict[str, Callable[..., Iterable[str]]]:
    merged: dict[str, Callable[..., Iterable[str]]] = {}
    for module in _modules():
        merged.update(getattr(module, "APPLICATIONS", {}))
    return merged
