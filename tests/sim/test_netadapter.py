"""Get-NetAdapter: the host's NIC, and inside a guest the adapters of its VM."""
from __future__ import annotations

from _model_harness import Shell, make_l1, world

HB = {"For": "Heartbeat", "Timeout": 600}


def test_host_has_a_physical_adapter_shaped_as_a_cim_instance() -> None:
    (nic,) = Shell(world()).ok("Get-NetAdapter")
    assert nic.type_names[0] == "Microsoft.Management.Infrastructure.CimInstance#ROOT/StandardCimv2/MSFT_NetAdapter"
    assert nic.get("Name") == "Ethernet" and nic.get("Status") == "Up" and nic.get("Virtual") is False


def test_guest_sees_its_vm_adapter_and_unknown_names_are_errors() -> None:
    sh = Shell(world())
    make_l1(sh, "l1")
    sh.ok("Start-VM", Name=["l1"])
    sh.ok("Wait-VM", Name=["l1"], **HB)
    guest = sh.guest("l1")
    (nic,) = guest.ok("Get-NetAdapter", Name=["Eth*"])
    assert nic.get("InterfaceDescription") == "Microsoft Hyper-V Network Adapter"
    assert nic.get("Status") in ("Up", "Disconnected") and len(nic.get("MacAddress")) == 17
    result = guest.run("Get-NetAdapter", Name=["Wi-Fi"])
    assert not result.output
    assert result.errors[0].message.startswith("No MSFT_NetAdapter objects found with property 'Name' equal to "
                                               "'Wi-Fi'.")
