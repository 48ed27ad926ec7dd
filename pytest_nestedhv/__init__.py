"""pytest-nestedhv: a pytest plugin and validation suite for Hyper-V nested virtualization.

The public API for your own tests: the fixtures ``nested_host``, ``nested_l1`` and
``nested_inner_vm`` (see ``pytest --fixtures``), the ``VM`` and ``HyperVHost`` handles they
return, ``RemoteCommandError``, raised by a command that failed on a host or in a guest,
``WaitFailed``, raised by a wait that cannot succeed any more (the VM turned off) or ran out,
and ``HostCrash``, what a host's System log says about an outage or ``nested_host.restart()``.
Names are imported on first use, so loading the plugin stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .hyperv.crash import HostCrash
    from .hyperv.machines import VM, HyperVHost
    from .hyperv.waits import WaitFailed
    from .remote.errors import RemoteCommandError

__all__ = ["VM", "HostCrash", "HyperVHost", "RemoteCommandError", "WaitFailed"]

_WHERE = {"VM": "hyperv.machines", "HostCrash": "hyperv.crash", "HyperVHost": "hyperv.machines",
          "RemoteCommandError": "remote.errors", "WaitFailed": "hyperv.waits"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'pytest_nestedhv' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
