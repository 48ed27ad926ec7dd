"""Parameter binding against the real signatures: names, aliases, prefixes, sets, types, errors."""
from __future__ import annotations

import uuid

import pytest

from pytest_nestedhv.sim.powershell.binding import bind
from pytest_nestedhv.sim.powershell.errors import PSError
from pytest_nestedhv.sim.powershell.reference import load_reference

REF = load_reference()


def _bind(cmdlet: str, *args: tuple[str | None, object], input_types: tuple[str, ...] | None = None):
    sig = REF.signature(cmdlet)
    assert sig is not None, cmdlet
    return bind(sig, list(args), input_types, REF)


def _error(cmdlet: str, *args: tuple[str | None, object]) -> PSError:
    with pytest.raises(PSError) as info:
        _bind(cmdlet, *args)
    assert info.value.terminating
    return info.value


def test_exact_name_alias_and_prefix_bind_to_the_canonical_name() -> None:
    assert _bind("Get-VM", ("Name", "a")).params == {"Name": ["a"]}
    assert _bind("Get-VM", ("VMName", "a")).params == {"Name": ["a"]}
    assert _bind("Set-VMProcessor", ("VMName", "a"), ("ExposeVirt", True)).params == {
        "VMName": ["a"], "ExposeVirtualizationExtensions": True}


def test_unknown_parameter_is_powershells_named_parameter_not_found() -> None:
    err = _error("Get-VM", ("Nmae", "a"))
    assert err.message == "A parameter cannot be found that matches parameter name 'Nmae'."
    assert err.fqid == "NamedParameterNotFound,Microsoft.HyperV.PowerShell.Commands.GetVM"
    assert err.category == "InvalidArgument"
    assert err.exception_type == "System.Management.Automation.ParameterBindingException"


def test_ambiguous_prefix_lists_the_matches() -> None:
    err = _error("Set-VM", ("VMName", "a"), ("Memory", 1))
    assert "is ambiguous. Possible matches include:" in err.message
    assert "-MemoryMaximumBytes" in err.message and "-MemoryStartupBytes" in err.message
    assert err.fqid.startswith("AmbiguousParameter,")


def test_parameters_from_different_sets_cannot_be_resolved() -> None:
    err = _error("Get-VM", ("Name", "a"), ("Id", str(uuid.uuid4())))
    assert err.message == "Parameter set cannot be resolved using the specified named parameters."
    assert err.fqid == "AmbiguousParameterSet,Microsoft.HyperV.PowerShell.Commands.GetVM"


def test_missing_mandatory_parameter_is_named() -> None:
    err = _error("Set-VMProcessor", ("ExposeVirtualizationExtensions", True))
    assert err.message == "Cannot process command because of one or more missing mandatory parameters: VMName."
    assert err.fqid == "MissingMandatoryParameter,Microsoft.HyperV.PowerShell.Commands.SetVMProcessor"


def test_pipeline_input_binds_by_the_input_objects_type() -> None:
    vm = ("Microsoft.HyperV.PowerShell.VirtualMachine", "System.Object")
    assert _bind("Set-VMProcessor", ("ExposeVirtualizationExtensions", True), input_types=vm).parameter_set == "VMObject"
    processor = ("Deserialized.Microsoft.HyperV.PowerShell.VMProcessor",)
    assert _bind("Set-VMProcessor", ("Count", 2), input_types=processor).parameter_set == "VMProcessor"


def test_positional_argument_fills_position_zero_of_the_default_set() -> None:
    bound = _bind("Get-VM", (None, "web*"))
    assert bound.params == {"Name": ["web*"]} and bound.parameter_set == "Name"


def test_extra_positional_argument_is_refused() -> None:
    err = _error("Get-VMHost", (None, "a"), (None, "b"), (None, "c"))
    assert err.fqid.startswith("PositionalParameterNotFound,")
    assert err.message == "A positional parameter cannot be found that accepts argument 'c'."


def test_switch_without_value_is_present_and_bool_switch_keeps_value() -> None:
    assert _bind("Stop-VM", ("Name", "a"), ("Force", None)).params["Force"] is True
    assert _bind("Stop-VM", ("Name", "a"), ("TurnOff", False)).params["TurnOff"] is False


def test_integer_conversion_and_size_suffixes() -> None:
    params = _bind("New-VM", ("Name", "a"), ("MemoryStartupBytes", "4GB"), ("Generation", "2")).params
    assert params["MemoryStartupBytes"] == 4 * 1024**3 and params["Generation"] == 2


def test_bad_integer_is_a_conversion_error() -> None:
    err = _error("Set-VMProcessor", ("VMName", "a"), ("Count", "four"))
    assert err.message == ("Cannot bind parameter 'Count'. Cannot convert value \"four\" to type \"System.Int64\". "
                           "Error: \"Input string was not in a correct format.\"")
    assert err.fqid == "CannotConvertArgumentNoMessage,Microsoft.HyperV.PowerShell.Commands.SetVMProcessor"


def test_enum_parameter_accepts_names_case_insensitively_and_numbers() -> None:
    assert _bind("Set-VMNetworkAdapter", ("VMName", "a"), ("MacAddressSpoofing", "on")).params[
        "MacAddressSpoofing"] == "On"
    assert _bind("Wait-VM", ("Name", "a"), ("For", 0)).params["For"] == "Heartbeat"


def test_bad_enum_value_lists_the_names() -> None:
    err = _error("Wait-VM", ("Name", "a"), ("For", "Boot"))
    assert "Microsoft.HyperV.PowerShell.WaitVMTypes" in err.message
    assert "Heartbeat, IPAddress, Reboot" in err.message


def test_boolean_parameter_refuses_a_string() -> None:
    err = _error("Set-VMMemory", ("VMName", "a"), ("DynamicMemoryEnabled", "no"))
    assert err.fqid.startswith("ParameterArgumentTransformationError,")
    assert "Boolean parameters accept only Boolean values and numbers" in err.message


def test_validate_set_is_enforced() -> None:
    with_values = [p for p in REF.signature("Set-VMNetworkAdapter").parameters.values() if p.accepted_values]
    assert with_values, "the reference lists ValidateSet values"
    param = with_values[0]
    err = _error("Set-VMNetworkAdapter", ("VMName", "a"), (param.name, "NotAValue"))
    assert err.fqid.startswith(("ParameterArgumentValidationError,", "CannotConvertArgumentNoMessage,"))


def test_parameter_given_twice() -> None:
    err = _error("Get-VM", ("Name", "a"), ("VMName", "b"))
    assert err.fqid.startswith("ParameterAlreadyBound,")


def test_null_for_a_mandatory_parameter() -> None:
    err = _error("Start-VM", ("Name", None))
    assert err.message == "Cannot bind argument to parameter 'Name' because it is null."


def test_guid_and_timespan_conversion() -> None:
    vm_id = uuid.uuid4()
    assert _bind("Get-VM", ("Id", str(vm_id))).params["Id"] == vm_id
    assert _bind("Wait-VM", ("Name", "a"), ("Timeout", 30)).params["Timeout"] == 30


def test_common_parameters_bind_everywhere() -> None:
    params = _bind("Get-VM", ("ErrorAction", "silentlycontinue"), ("Verbose", True)).params
    assert params["ErrorAction"] == "SilentlyContinue" and params["Verbose"] is True


def test_install_windows_feature_errors_name_the_add_command_class() -> None:
    err = _error("Install-WindowsFeature", ("Nmae", "Hyper-V"))
    assert err.fqid == "NamedParameterNotFound,Microsoft.Windows.ServerManager.Commands.AddWindowsFeatureCommand"



def test_a_hyperv_object_parameter_refuses_what_a_client_can_send() -> None:
    # over remoting a VM object arrives deserialized: Windows cannot bind it to -VM, nor a name string
    err = _error("Start-VM", ("VM", "web1"))
    assert err.message == ('Cannot bind parameter \'VM\'. Cannot convert the "web1" value of type "System.String" '
                           'to type "Microsoft.HyperV.PowerShell.VirtualMachine".')
    assert err.fqid == "CannotConvertArgumentNoMessage,Microsoft.HyperV.PowerShell.Commands.StartVM"
