"""Cmd, Secret/SecretMask, RemoteObject and transcript rendering (no network)."""
from __future__ import annotations

import datetime
import json
import logging
import pickle

import pytest
from pypsrp.complex_objects import GenericComplexObject

from pytest_nestedhv.remote import Cmd, GuestCredential, Secret, SecretMask, Transcript
from pytest_nestedhv.remote.errors import RemoteError
from pytest_nestedhv.remote.objects import convert, from_wire
from pytest_nestedhv.remote.secrets import MASK, SecretMaskFilter
from pytest_nestedhv.remote.transcript import ScriptNames, TranscriptEntry, render_cmd, render_entry

PW = "S3cret-Value!"


# Cmd ---------------------------------------------------------------------------------------
def test_cmd_of_keeps_keyword_order_and_reads_case_insensitively() -> None:
    cmd = Cmd.of("Set-VMProcessor", VMName="l1", ExposeVirtualizationExtensions=True, Count=2)
    assert [k for k, _ in cmd.params] == ["VMName", "ExposeVirtualizationExtensions", "Count"]
    assert cmd.param("vmname") == "l1" and cmd.param("missing", 7) == 7
    assert not cmd.is_read_only and Cmd.of("Get-VM").is_read_only
    assert cmd.with_params(count=4).param("Count") == 4


def test_cmd_rejects_unsendable_values() -> None:
    with pytest.raises(TypeError, match="-When"):
        Cmd.of("Get-Date", When=datetime.datetime.now())
    with pytest.raises(ValueError):
        Cmd("Get VM")


# secrets -----------------------------------------------------------------------------------
def test_secret_never_shows_its_value() -> None:
    s = Secret(PW)
    for text in (repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr(GuestCredential("admin", s))):
        assert PW not in text
    assert s.reveal() == PW and s == Secret(PW) and s != Secret("other-value")
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_mask_replaces_every_known_secret() -> None:
    mask = SecretMask([Secret(PW), "another-one"])
    mask.add(Secret(""))  # empty secrets are ignored, not masking everything
    text = f"user x pw {PW} and 'another-one' and {PW!r}"
    masked = mask.mask(text)
    assert PW not in masked and "another-one" not in masked and masked.count(MASK) == 3
    assert mask.mask("nothing here") == "nothing here"


def test_log_filter_masks_message_args_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    mask = SecretMask([Secret(PW)])
    log_filter = SecretMaskFilter(mask)
    caplog.handler.addFilter(log_filter)
    logger = logging.getLogger("test.nestedhv.mask")
    try:
        with caplog.at_level(logging.INFO, logger="test.nestedhv.mask"):
            logger.info("password is %s", PW)
            try:
                raise ValueError(f"bad {PW}")
            except ValueError:
                logger.exception("failed")
    finally:
        caplog.handler.removeFilter(log_filter)
    assert PW not in caplog.text and caplog.text.count(MASK) >= 2


# RemoteObject ------------------------------------------------------------------------------
def _obj(types: list[str], adapted: dict | None = None, extended: dict | None = None,
         to_string: str | None = None, property_sets: list | None = None) -> GenericComplexObject:
    o = GenericComplexObject()
    o.types = types
    o.adapted_properties = adapted or {}
    o.extended_properties = extended or {}
    o.to_string = to_string
    o.property_sets = property_sets or []
    return o


def _enum(name: str, value: int, prefix: str = "") -> GenericComplexObject:
    return _obj([f"{prefix}Microsoft.HyperV.PowerShell.VMState", f"{prefix}System.Enum", "System.ValueType"],
                to_string=name, property_sets=[value])


def test_remote_object_properties_enums_and_nesting() -> None:
    nic = _obj(["Microsoft.HyperV.PowerShell.VMNetworkAdapter"], {"MacAddressSpoofing": _obj(
        ["Microsoft.HyperV.PowerShell.OnOffState", "System.Enum"], to_string="On", property_sets=[0])})
    raw = _obj(["Microsoft.HyperV.PowerShell.VirtualMachine", "System.Object"],
               {"Name": "l1", "State": _enum("Running", 2), "NetworkAdapters": [nic], "MemoryStartup": 4 * 2**30})
    vm = from_wire(raw)
    assert vm["state"] == "Running" and vm["NAME"] == "l1" and vm.get("nope", 1) == 1
    assert vm["NetworkAdapters"][0]["MacAddressSpoofing"] == "On"
    assert vm.is_type("Microsoft.HyperV.PowerShell.VirtualMachine") and not vm.is_deserialized
    with pytest.raises(KeyError, match="Nope"):
        vm["Nope"]
    data = vm.to_dict()
    json.dumps(data)
    assert data["State"] == "Running" and data["NetworkAdapters"][0]["_type"].endswith("VMNetworkAdapter")


def test_deserialized_guest_objects_hide_the_prefix() -> None:
    raw = _obj(["Deserialized.Microsoft.HyperV.PowerShell.VirtualMachine", "Deserialized.System.Object"],
               {"State": _enum("Off", 3, "Deserialized.")}, {"PSComputerName": "l1"})
    vm = from_wire(raw)
    assert vm.is_type("Microsoft.HyperV.PowerShell.VirtualMachine") and vm.is_deserialized
    assert vm.type_name == "Microsoft.HyperV.PowerShell.VirtualMachine"
    assert vm["State"] == "Off" and vm.computer_name == "l1"


def test_primitives_become_remote_objects_with_value() -> None:
    assert from_wire("text").value == "text" and from_wire("text").type_names[0] == "System.String"
    noted = from_wire(_obj(["System.String", "System.Object"], extended={"PSComputerName": "g"},
                           property_sets=["hello"], to_string="hello"))
    assert noted.value == "hello" and noted["PSComputerName"] == "g"
    enum = from_wire(_enum("Saved", 6))
    assert enum.value == "Saved" and enum.is_type("Microsoft.HyperV.PowerShell.VMState")
    assert convert({"a": [1, _enum("Off", 3)]}) == {"a": [1, "Off"]}


# transcript ---------------------------------------------------------------------------------
def _entry(pipeline: tuple[Cmd, ...], target: str = "host", outcome: str = "ok", error: str | None = None,
           step: str | None = None) -> TranscriptEntry:
    return TranscriptEntry(datetime.datetime.now(datetime.timezone.utc), 0.5, target, pipeline,
                           outcome, error, step)  # type: ignore[arg-type]


def test_render_cmd_quotes_switches_booleans_lists_and_hashtables() -> None:
    cmd = Cmd.of("New-VM", Name="it's", MemoryStartupBytes=4 * 2**30, Generation=2, Force=True, Confirm=False,
                 Path=["a", "b"], Tags={"k": 1})
    assert render_cmd(cmd) == ("New-VM -Name 'it''s' -MemoryStartupBytes 4GB -Generation 2 -Force:$true "
                               "-Confirm:$false -Path @('a', 'b') -Tags @{'k' = 1}")
    # a Boolean parameter needs its value attached: "-ExposeVirtualizationExtensions $true" would not bind
    assert render_cmd(Cmd.of("Set-VMProcessor", VMName="v", ExposeVirtualizationExtensions=True)) == (
        "Set-VMProcessor -VMName 'v' -ExposeVirtualizationExtensions:$true")


def test_render_never_writes_secrets_and_references_credentials() -> None:
    cred = GuestCredential("Administrator", Secret(PW))
    entries = [
        _entry((Cmd.of("Get-VM", Name="l1"), Cmd.of("Start-VM")), step="L1 booted"),
        _entry((Cmd.of("ConvertTo-Thing", Password=Secret(PW)),), step="L1 booted"),
        _entry((Cmd.of("Install-WindowsFeature", Name="Hyper-V"),), target="guest:l1", outcome="error",
               error="A prerequisite check for the Hyper-V feature failed.", step="Hyper-V installed"),
        _entry((Cmd.of("Test-Cred", Credential=cred),)),
    ]
    names = ScriptNames()
    text = "\n".join([render_entry(e, names, "Administrator") for e in entries] + names.prompts())
    assert PW not in text
    assert "Get-VM -Name 'l1' | Start-VM" in text
    assert ("Invoke-Command -VMName 'l1' -Credential $GuestCredential -ScriptBlock "
            "{ Install-WindowsFeature -Name 'Hyper-V' }") in text
    assert "$GuestCredential = Get-Credential -UserName 'Administrator'" in text
    assert "-Password $Password" in text and names.parameters() == ["[pscredential] $GuestCredential",
                                                                   "[securestring] $Password"]


def test_run_id_renders_as_a_variable_for_fresh_names() -> None:
    names = ScriptNames({"abc123": "RunId"})
    cmd = Cmd.of("New-VM", Name="nestedhv-abc123-l1", Notes='abc123: a "quoted" $x `tick')
    assert render_cmd(cmd, names) == 'New-VM -Name "nestedhv-${RunId}-l1" -Notes "${RunId}: a `"quoted`" `$x ``tick"'
    assert render_cmd(Cmd.of("Get-VM", Name="other $x"), names) == "Get-VM -Name 'other $x'"
    entry = _entry((Cmd.of("New-VM", Name="nestedhv-abc123-l2", Secret=Secret(PW)),), target="guest:nestedhv-abc123-l1")
    # inside the script block the script's own variables are read with $using: (it runs in the guest)
    assert render_entry(entry, names, "Administrator") == (
        'Invoke-Command -VMName "nestedhv-${RunId}-l1" -Credential $GuestCredential -ScriptBlock '
        '{ New-VM -Name "nestedhv-$($using:RunId)-l2" -Secret $using:Password }')
    assert render_cmd(Cmd.of("Get-VM", Name="nestedhv-abc123-l2"), names) == 'Get-VM -Name "nestedhv-${RunId}-l2"'


def test_transcript_steps_nest() -> None:
    t = Transcript()
    with t.step("outer"):
        with t.step("inner"):
            assert t.current_step == "inner"
        assert t.current_step == "outer"
    assert t.current_step is None


def test_remote_error_is_one_line() -> None:
    err = RemoteError("line one\nline two", fqid="X,Y", command="Get-VM -Name 'a'")
    assert str(err) == "Get-VM -Name 'a': line one line two [X,Y]"
    assert pickle.loads(pickle.dumps(err)).fqid == "X,Y"


def test_a_present_switch_is_sent_as_true_and_rendered_bare() -> None:
    from pytest_nestedhv.remote.commands import SWITCH
    from pytest_nestedhv.remote.wire import to_wire

    assert to_wire(SWITCH) is True
    assert render_cmd(Cmd.of("Stop-VM", Name="v", TurnOff=SWITCH, Force=SWITCH)) == "Stop-VM -Name 'v' -TurnOff -Force"
    native = Cmd("bcdedit", (("", "/deletevalue"), ("", "{current}"), ("", "hypervisorloadoptions")))
    assert render_cmd(native) == "bcdedit /deletevalue '{current}' hypervisorloadoptions"


def test_switches_survive_the_report_records() -> None:
    from pytest_nestedhv.remote.commands import SWITCH
    from pytest_nestedhv.remote.secrets import SecretMask
    from pytest_nestedhv.reporting.wire import decode_pipeline, encode_pipeline

    pipeline = (Cmd.of("New-VHD", Path="C:\\d.vhdx", Differencing=SWITCH),)
    assert decode_pipeline(encode_pipeline(pipeline, SecretMask())) == pipeline
