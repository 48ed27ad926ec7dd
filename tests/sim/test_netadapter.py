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


def test_host_adapter_by_interface_index() -> None:
    sh = Shell(world())
    (nic,) = sh.ok("Get-NetAdapter", InterfaceIndex=[6])
    assert nic.get("ifIndex") == 6
    result = sh.run("Get-NetAdapter", InterfaceIndex=[99])
    assert not result.output
    # the CDXML queries the CIM property InterfaceIndex (ifIndex is its alias)
    assert result.errors[0].message.startswith("No MSFT_NetAdapter objects found with property 'InterfaceIndex' "
                                               "equal to '99'.")
    assert result.errors[0].fqid == "CmdletizationQuery_NotFound_InterfaceIndex,Get-NetAdapter"


def _l2_addresses(spoofing: str, vswitch: str = "default") -> list[str]:
    """Boot an L1 with Hyper-V on the host's switch, an L2 inside on an External switch; the L2's addresses."""
    from test_model import boot_l1_with_hyperv

    sh = Shell(world(vswitch=vswitch))
    switch = sh.ok("Get-VMSwitch")[0].get("Name")
    guest = boot_l1_with_hyperv(sh)
    sh.ok("Connect-VMNetworkAdapter", VMName=["l1"], SwitchName=switch)
    sh.ok("Set-VMNetworkAdapter", VMName=["l1"], MacAddressSpoofing=spoofing)
    guest.ok("New-VMSwitch", Name="ext", NetAdapterName=["Ethernet"])
    make_l1(guest, "l2", expose=False)
    guest.ok("Connect-VMNetworkAdapter", VMName=["l2"], SwitchName="ext")
    guest.ok("Start-VM", Name=["l2"])
    guest.ok("Wait-VM", Name=["l2"], **HB)
    return list(guest.ok("Get-VMNetworkAdapter", VMName=["l2"])[0].get("IPAddresses"))


def test_l2_gets_an_address_only_through_mac_spoofing_on_the_l1_adapter() -> None:
    assert _l2_addresses("On")
    assert _l2_addresses("Off") == []  # docs/requirements.md#vmmac-spoofing: MAC spoofing (or NAT in the L1)


def test_no_address_behind_an_internal_switch_without_nat() -> None:
    assert _l2_addresses("On", vswitch="internal") == []
