"""PowerShell Direct through the plugin's trampoline (Invoke-InGuest.ps1 sent as script text with a
real PSCredential): remoted objects, the guest's own facts, installing Hyper-V, rebooting, the §3 texts.

One healthy host (scenario ``default``) per module; every test makes its own L1.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from wire_helpers import CATEGORY, GUEST_PASSWORD, WireHost, cmd, enum_of, error_facts, prop, wire_tag

INVOKE = "Microsoft.PowerShell.Commands.InvokeCommandCommand"
SM = "Microsoft.Windows.ServerManager.Commands."


@pytest.fixture(scope="module")
def host() -> Iterator[WireHost]:
    with WireHost.start("default") as started:
        yield started


def last_boot(host: WireHost, vm: str) -> dt.datetime:
    (os_,) = host.in_guest(vm, "Get-CimInstance", ClassName="Win32_OperatingSystem").output
    tag, text = wire_tag(os_, "LastBootUpTime")
    assert tag == "DT" and text
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_guest_output_is_deserialized_and_carries_ps_computer_name(host: WireHost) -> None:
    host.make_l1("pd-shape", start=True)
    result = host.in_guest("pd-shape", "Get-CimInstance", ClassName="Win32_ComputerSystem")
    assert not result.errors and not result.had_errors
    (cs,) = result.output
    assert cs.types[0] == "Deserialized.Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_ComputerSystem"
    assert all(t.startswith("Deserialized.") for t in cs.types)
    assert prop(cs, "PSComputerName") == "pd-shape"  # Invoke-Command -VMName names the VM
    assert prop(cs, "PSShowComputerName") is True
    assert wire_tag(cs, "RunspaceId")[0] == "G"
    assert prop(cs, "Model") == "Virtual Machine"
    assert prop(cs, "HypervisorPresent") is False  # no Hyper-V inside yet


def test_guest_registry_and_processor_facts(host: WireHost) -> None:
    host.make_l1("pd-facts", start=True)
    (cv,) = host.in_guest("pd-facts", "Get-ItemProperty",
                          Path="HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion").output
    assert prop(cv, "CurrentBuild") == "26100"
    assert prop(cv, "PSComputerName") == "pd-facts"
    (cpu,) = host.in_guest("pd-facts", "Get-CimInstance", ClassName="Win32_Processor").output
    # extensions exposed and no hypervisor inside: the guest sees VT-x (docs/requirements.md#guestextensions-visible)
    assert prop(cpu, "VMMonitorModeExtensions") is True
    assert prop(cpu, "SecondLevelAddressTranslationExtensions") is True


def test_install_hyperv_in_the_guest_then_restart_computer_brings_the_hypervisor(host: WireHost) -> None:
    host.make_l1("pd-install", start=True)
    (before,) = host.in_guest("pd-install", "Get-WindowsFeature", Name="Hyper-V").output
    assert prop(before, "Installed") is False and enum_of(before, "InstallState") == "Available"

    install = host.in_guest("pd-install", "Install-WindowsFeature", Name="Hyper-V", IncludeManagementTools=True)
    assert not install.errors
    (outcome,) = install.output
    assert outcome.types[0] == f"Deserialized.{SM}FeatureOperationResult"
    assert prop(outcome, "Success") is True
    assert enum_of(outcome, "RestartNeeded") == "Yes"  # an enum property crosses both hops as its name
    assert enum_of(outcome, "ExitCode") == "SuccessRestartRequired"
    assert "You must restart this server to finish the installation process." in install.warnings

    booted = last_boot(host, "pd-install")
    assert host.in_guest("pd-install", "Restart-Computer", Force=True).errors == []
    host.ok(cmd("Wait-VM", Name="pd-install", For="Reboot", Timeout=600))
    assert last_boot(host, "pd-install") > booted  # the reboot really happened
    (cs,) = host.in_guest("pd-install", "Get-CimInstance", ClassName="Win32_ComputerSystem").output
    assert prop(cs, "HypervisorPresent") is True
    (vmms,) = host.in_guest("pd-install", "Get-Service", Name="vmms").output
    assert enum_of(vmms, "Status") == "Running"
    events = host.in_guest("pd-install", "Get-WinEvent",
                           FilterHashtable={"LogName": "System", "Id": 1}).output
    assert [prop(e, "Message") for e in events] == ["Hypervisor successfully started."]


def test_enable_windows_optional_feature_in_the_guest(host: WireHost) -> None:
    host.make_l1("pd-dism", start=True)
    result = host.in_guest("pd-dism", "Enable-WindowsOptionalFeature", Online=True, FeatureName="Microsoft-Hyper-V",
                           All=True, NoRestart=True)
    assert not result.errors
    (image,) = result.output
    assert image.types[0] == "Deserialized.Microsoft.Dism.Commands.ImageObject"
    assert prop(image, "RestartNeeded") is True
    (state,) = host.in_guest("pd-dism", "Get-WindowsOptionalFeature", Online=True,
                             FeatureName="Microsoft-Hyper-V").output
    assert enum_of(state, "State") == "EnablePending"


@pytest.mark.parametrize("start", [False, True], ids=["off", "running-without-os"])
def test_powershell_direct_to_a_vm_whose_guest_does_not_answer(host: WireHost, start: bool) -> None:
    name = f"pd-silent-{start}"
    host.ok(cmd("New-VM", Name=name))  # no disk: nothing ever boots, so PowerShell Direct never answers
    if start:
        host.ok(cmd("Start-VM", Name=name))
    result = host.in_guest(name, "Get-Service")
    assert result.output == [] and result.had_errors is False  # Invoke-Command's errors are non-terminating
    message, fqid, category = error_facts(result.only_error())
    assert message == "An error has occurred which Windows PowerShell cannot handle. A remote session might have ended."
    assert fqid == f"CreateRemoteRunspaceForVMFailed,{INVOKE}"
    assert category == CATEGORY["InvalidOperation"]


def test_powershell_direct_with_a_wrong_password(host: WireHost) -> None:
    host.make_l1("pd-cred", start=True)
    wrong = "Not-The-Guest-Passw0rd"
    result = host.in_guest("pd-cred", "Get-Service", password=wrong)
    assert result.had_errors is False and result.output == []
    error = result.only_error()
    assert str(error) == "The credential is invalid."
    assert error.category == CATEGORY["InvalidArgument"]
    everything = " ".join([str(error), error.fq_error, str(error.target_object), repr(error.message)])
    assert wrong not in everything and GUEST_PASSWORD not in everything


def test_powershell_direct_to_an_unknown_vm(host: WireHost) -> None:
    result = host.in_guest("pd-no-such-vm", "Get-Service")
    error = result.only_error()
    assert str(error) == "The input VMName parameter does not resolve to any virtual machine."
    assert error.fq_error == f"InvalidVMNameNotSingle,{INVOKE}"
    assert result.had_errors is False


def test_a_terminating_error_inside_the_guest_arrives_as_an_error_record(host: WireHost) -> None:
    host.make_l1("pd-term", start=True)
    result = host.in_guest("pd-term", "New-VM", Name="l2")  # no Hyper-V inside: no such command
    error = result.only_error()
    assert str(error).startswith("The term 'New-VM' is not recognized as the name of a cmdlet")
    assert error.fq_error == "CommandNotFoundException"
    assert result.had_errors is False  # the trampoline itself completed
