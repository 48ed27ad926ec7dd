"""Reproduces: an L2 with 4 virtual processors boots inside the L1 and reaches its heartbeat.

Fails on the emulated host ``--nested-host=sim:nested-boot-crash`` (every L2 crashes at power-on):
"VM 'nestedhv-...-l2-4vcpu' turned Off while waiting: ... has encountered a fatal error".
"""


def test_l2_with_four_vcpus_boots(nested_inner_vm):
    l2 = nested_inner_vm(processors=4, name="l2-4vcpu")
    l2.wait_heartbeat(timeout=600)
    assert l2.processor.Count == 4
    assert l2.state == "Running"
