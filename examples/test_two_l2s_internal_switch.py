"""Reproduces: two L2s in one L1 reach their heartbeat and see each other on an internal switch
created inside the L1 (New-VMSwitch -SwitchType Internal; static addresses; Test-Connection both ways).

Fails on the emulated host ``--nested-host=sim:nested-boot-hang`` (L2 guests never answer):
"nestedhv-...-ping-a heartbeat: not reached within 600 s (Wait-VM -For Heartbeat)".
"""


def test_two_l2s_see_each_other_on_an_internal_switch(nested_l1, nested_inner_vm):
    switch = f"{nested_l1.name}-internal"  # the L1's name carries the run's id
    nested_l1.run("New-VMSwitch", Name=switch, SwitchType="Internal")
    try:
        a = nested_inner_vm(name="ping-a", switch=switch)
        b = nested_inner_vm(name="ping-b", switch=switch)
        a.wait_heartbeat(timeout=600)
        b.wait_heartbeat(timeout=600)
        a.run("New-NetIPAddress", InterfaceAlias="Ethernet", IPAddress="192.168.250.11", PrefixLength=24)
        b.run("New-NetIPAddress", InterfaceAlias="Ethernet", IPAddress="192.168.250.12", PrefixLength=24)
        assert [r.StatusCode for r in a.run("Test-Connection", ComputerName="192.168.250.12", Count=2)] == [0, 0]
        assert [r.StatusCode for r in b.run("Test-Connection", ComputerName="192.168.250.11", Count=1)] == [0]
        assert "192.168.250.12" in b.network_adapters[0].IPAddresses
    finally:
        nested_l1.run("Remove-VMSwitch", Name=switch, Force=True)
