"""Reproduces: enabling dynamic memory on the running L1 is refused (an L1 running Hyper-V needs
static memory; the setting can only change while the VM is Off).

Fails on the emulated host ``--nested-host=sim:dynamic-memory-regression`` (the change is accepted):
"Failed: DID NOT RAISE ... RemoteError".
"""
import pytest

from pytest_nestedhv import RemoteCommandError


def test_enabling_dynamic_memory_on_a_running_l1_is_refused(nested_host, nested_l1):
    try:
        with pytest.raises(RemoteCommandError, match="cannot be performed while the virtual machine is in its "
                                                     "current state") as refused:
            nested_host.run("Set-VMMemory", VMName=nested_l1.name, DynamicMemoryEnabled=True)
        assert refused.value.category == "InvalidOperation"
        assert nested_l1.memory.DynamicMemoryEnabled is False
    finally:  # the L1 is shared with other tests: put it back if the platform took the change
        if nested_l1.memory.DynamicMemoryEnabled:
            nested_host.run("Set-VMMemory", VMName=nested_l1.name, DynamicMemoryEnabled=False)
