"""Parameter binding and error behaviour as a pypsrp client of a real host sees it: PowerShell's own
error records (message, FullyQualifiedErrorId, category), terminating errors failing the pipeline,
non-terminating ones leaving it Completed, -ErrorAction Stop turning them terminating.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from pypsrp.powershell import PSInvocationState

from wire_helpers import CATEGORY, Cmd, WireHost, cmd, error_facts, prop

HVC = "Microsoft.HyperV.PowerShell.Commands."


@pytest.fixture(scope="module")
def host() -> Iterator[WireHost]:
    with WireHost.start("legacy-vms") as started:
        yield started


def assert_binding_failure(host: WireHost, command: Cmd, message: str, fqid: str) -> None:
    result = host.run(command)
    assert result.failed and result.state == PSInvocationState.FAILED
    assert result.output == []
    error = result.only_error()
    assert error_facts(error) == (message, fqid, CATEGORY["InvalidArgument"])
    assert error.reason == "ParameterBindingException"
    assert error.exception.types[0] == "System.Management.Automation.ParameterBindingException"


def test_unknown_parameter_name(host: WireHost) -> None:
    assert_binding_failure(host, cmd("Get-VM", Nmae="legacy"),
                           "A parameter cannot be found that matches parameter name 'Nmae'.",
                           f"NamedParameterNotFound,{HVC}GetVM")


def test_a_parameter_of_another_cmdlet_is_refused(host: WireHost) -> None:
    # -MacAddressSpoofing belongs to Set-VMNetworkAdapter, never to Set-VM
    assert_binding_failure(host, cmd("Set-VM", Name="legacy", MacAddressSpoofing="On"),
                           "A parameter cannot be found that matches parameter name 'MacAddressSpoofing'.",
                           f"NamedParameterNotFound,{HVC}SetVM")


def test_parameters_of_two_sets(host: WireHost) -> None:
    # Get-VM -Id (set Id) with -ClusterObject (set ClusterObject) share no set
    assert_binding_failure(host, cmd("Get-VM", Id="7f1c4a8e-1111-4c2b-9f3a-00155d010203", ClusterObject="x"),
                           "Parameter set cannot be resolved using the specified named parameters.",
                           f"AmbiguousParameterSet,{HVC}GetVM")


def test_missing_mandatory_parameter(host: WireHost) -> None:
    assert_binding_failure(host, cmd("New-VHD", SizeBytes=1024**3),
                           "Cannot process command because of one or more missing mandatory parameters: Path.",
                           "MissingMandatoryParameter,Microsoft.Vhd.PowerShell.Cmdlets.NewVhd")


def test_value_that_is_no_enum_member(host: WireHost) -> None:
    result = host.run(cmd("Set-VMNetworkAdapter", VMName="legacy", MacAddressSpoofing="Maybe"))
    assert result.failed
    message, fqid, category = error_facts(result.only_error())
    assert message == ("Cannot bind parameter 'MacAddressSpoofing'. Cannot convert value \"Maybe\" to type "
                       "\"Microsoft.HyperV.PowerShell.OnOffState\". Error: \"Unable to match the identifier name Maybe "
                       "to a valid enumerator name. Specify one of the following enumerator names and try again:"
                       "\r\nOn, Off\"")
    assert fqid == f"CannotConvertArgumentNoMessage,{HVC}SetVMNetworkAdapter"
    assert category == CATEGORY["InvalidArgument"]


def test_value_that_cannot_convert_to_int(host: WireHost) -> None:
    result = host.run(cmd("Set-VMProcessor", VMName="legacy", Count="many"))
    assert result.failed
    message, fqid, _ = error_facts(result.only_error())
    assert message.startswith("Cannot bind parameter 'Count'. Cannot convert value \"many\" to type \"System.Int64\".")
    assert fqid == f"CannotConvertArgumentNoMessage,{HVC}SetVMProcessor"


def test_unique_prefix_and_alias_bind(host: WireHost) -> None:
    (by_prefix,) = host.ok(cmd("Get-VMProcessor", VMN="legacy"))  # -VMN: the only parameter starting so
    assert prop(by_prefix, "VMName") == "legacy"
    (by_alias,) = host.ok(cmd("Wait-VM", VMName="legacy-running", TimeoutSec=5, Passthru=True))  # aliases of Name/Timeout
    assert prop(by_alias, "Name") == "legacy-running"


def test_ambiguous_prefix(host: WireHost) -> None:
    result = host.run(cmd("Get-VM", C="x"))
    assert result.failed
    message, fqid, _ = error_facts(result.only_error())
    assert message.startswith("Parameter cannot be processed because the parameter name 'C' is ambiguous. "
                              "Possible matches include:")
    assert "-ComputerName" in message and "-CimSession" in message
    assert fqid == f"AmbiguousParameter,{HVC}GetVM"


def test_unknown_command(host: WireHost) -> None:
    result = host.run(cmd("Get-VMNotAThing"))
    assert result.failed
    error = result.only_error()
    assert str(error) == ("The term 'Get-VMNotAThing' is not recognized as the name of a cmdlet, function, script "
                          "file, or operable program. Check the spelling of the name, or if a path was included, "
                          "verify that the path is correct and try again.")
    assert error.fq_error == "CommandNotFoundException"
    assert error.category == CATEGORY["ObjectNotFound"]
    assert error.exception.types[0] == "System.Management.Automation.CommandNotFoundException"
    assert error.activity == ""  # "ObjectNotFound: (Get-VMNotAThing:String) [], CommandNotFoundException"


def test_no_such_vm_is_non_terminating(host: WireHost) -> None:
    result = host.run_statements([[cmd("Get-VM", Name="missing-vm")], [cmd("Get-VMHost")]])
    assert result.had_errors is False and result.state == PSInvocationState.COMPLETED
    message, fqid, category = error_facts(result.only_error())
    assert message == 'Hyper-V was unable to find a virtual machine with name "missing-vm".'
    assert fqid == f"InvalidParameter,{HVC}GetVM"
    assert category == CATEGORY["InvalidArgument"]
    assert result.output[0].types[0] == "Microsoft.HyperV.PowerShell.VMHost"  # the next statement still ran


def test_no_such_vm_is_silent_for_a_wildcard(host: WireHost) -> None:
    result = host.run(cmd("Get-VM", Name="missing-*"))
    assert result.output == [] and result.errors == [] and not result.had_errors


def test_non_terminating_errors_keep_the_other_objects(host: WireHost) -> None:
    result = host.run(cmd("Get-VM", Name=["legacy", "missing-vm", "legacy-saved"]))
    assert [prop(v, "Name") for v in result.output] == ["legacy", "legacy-saved"]
    assert len(result.errors) == 1 and not result.had_errors


def test_error_action_stop_makes_it_terminating(host: WireHost) -> None:
    result = host.run_statements([[cmd("Get-VM", Name="missing-vm", ErrorAction="Stop")], [cmd("Get-VMHost")]])
    assert result.failed
    assert result.output == []  # nothing after the terminating error
    assert str(result.only_error()) == 'Hyper-V was unable to find a virtual machine with name "missing-vm".'


def test_error_action_silently_continue_drops_the_record(host: WireHost) -> None:
    result = host.run(cmd("Get-VM", Name="missing-vm", ErrorAction="SilentlyContinue"))
    assert result.errors == [] and not result.had_errors


def test_invalid_error_action_value(host: WireHost) -> None:
    result = host.run(cmd("Get-VM", ErrorAction="Sometimes"))
    assert result.failed
    assert str(result.only_error()).startswith("Cannot bind parameter 'ErrorAction'.")


def test_pipeline_input_binds_by_value(host: WireHost) -> None:
    (proc,) = host.ok(cmd("Get-VM", Name="legacy"), cmd("Get-VMProcessor"))
    assert prop(proc, "VMName") == "legacy"


def test_script_text_other_than_the_shipped_scripts_is_refused(host: WireHost) -> None:
    from pypsrp.powershell import PowerShell

    ps = PowerShell(host.pool)
    ps.add_script("Get-VM | ForEach-Object { $_.Name }")
    assert ps.invoke() == []
    assert ps.had_errors is True
    # as a Windows endpoint in no-language mode refuses it (recorded: test_psrp_with_jea_configuration.yml)
    error = ps.streams.error[0]
    assert (error.fq_error, error.category, error.reason, error.target_name) == (
        "ScriptsNotAllowed", 17, "ParseException", "Get-VM | ForEach-Object { $_.Name }")
    assert str(error) == "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode."


def test_a_written_error_names_the_command_that_wrote_it(host: WireHost) -> None:
    # CategoryInfo.Activity is the writer, not the pipeline's first command
    result = host.run(cmd("Get-VM", Name="legacy"), cmd("Remove-VMSavedState"))
    assert result.state == PSInvocationState.COMPLETED
    error = result.only_error()
    assert error_facts(error)[1] == f"InvalidState,{HVC}RemoveVMSavedState"
    assert error.activity == "Remove-VMSavedState"
    # the InvocationInfo Windows adds for AddInvocationInfo (pypsrp asks for it) places the writer
    assert (error.invocation, error.command_name, error.invocation_name) == (
        True, "Remove-VMSavedState", "Remove-VMSavedState")
    assert (error.invocation_pipeline_position, error.invocation_pipeline_length,
            error.invocation_expecting_input) == (2, 2, True)
