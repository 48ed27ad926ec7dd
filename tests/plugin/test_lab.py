"""The lab state machine against a fake session: order, memory of failures, cleanup scope."""
from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

import pytest

from pytest_nestedhv.hyperv import requirements as req
from pytest_nestedhv.hyperv.lab import Lab, LabBlocked, LabConfig, LabConfigError
from pytest_nestedhv.hyperv.observer import Observer
from pytest_nestedhv.hyperv.steps import Step
from pytest_nestedhv.remote.commands import SWITCH
from pytest_nestedhv.remote.errors import RemoteError
from pytest_nestedhv.remote.secrets import GuestCredential, Secret

from .fake_hyperv import FakeSession, FakeVM

BASE = "C:\\Images\\base.vhdx"
REFERENCE = Path(__file__).resolve().parents[2] / "pytest_nestedhv" / "sim" / "reference" / "cmdlets.json"


def make_lab(session: FakeSession, **kw: object) -> Lab:
    cred = GuestCredential("Administrator", Secret("pw-not-logged"))
    return Lab(session, LabConfig(run_id="abc123", base_image=BASE, guest_cred=cred, slice_s=10, **kw))  # type: ignore[arg-type]


def test_full_chain_reaches_l2_booted_in_order() -> None:
    s = FakeSession()
    lab = make_lab(s)
    outcome = lab.reach(Step.L2_BOOTED)
    assert outcome.ok, outcome.error
    assert [p.step for p in lab.timeline] == ["host-checked", "l1-created", "l1-booted", "guest-reachable",
        "hyperv-installed", "guest-rebooted", "guest-hypervisor", "l2-created", "l2-booted"]
    l1 = s.vms["nestedhv-abc123-l1"]
    assert l1.notes == "nestedhv-run:abc123" and l1.expose and not l1.dynamic and l1.spoofing == "On"
    processor = next(cmd for _, name, cmd in s.calls if name == "Set-VMProcessor")
    assert processor.param("Count") == 2  # Hyper-V in the guest plus an L2: two vCPUs
    host = s.names()
    # extensions exposed before the first Start-VM (only possible while Off)
    assert host.index("Set-VMProcessor") < host.index("Start-VM")
    assert "Install-WindowsFeature" in s.names("guest:nestedhv-abc123-l1")
    assert s.guest_vms["nestedhv-abc123-l1"]["nestedhv-abc123-l2"] == "Running"
    assert lab.guest_after is not None and lab.guest_after.hypervisor_present
    assert lab.guest_before is not None and lab.guest_before.last_boot != lab.guest_after.last_boot


def test_client_guest_uses_enable_windows_optional_feature() -> None:
    s = FakeSession(guest_server=False)
    lab = make_lab(s)
    assert lab.reach(Step.HYPERV_INSTALLED).ok
    guest = s.names("guest:nestedhv-abc123-l1")
    assert "Enable-WindowsOptionalFeature" in guest and "Install-WindowsFeature" not in guest


def test_failed_step_is_remembered_and_later_steps_are_blocked_with_cause() -> None:
    s = FakeSession()
    s.fail["Install-WindowsFeature"] = RemoteError("A prerequisite check for the Hyper-V feature failed.",
                                                   fqid="Alteration_PrerequisiteCheck_Failed")
    lab = make_lab(s)
    outcome = lab.reach(Step.HYPERV_INSTALLED)
    assert not outcome.ok and "prerequisite check" in (outcome.error or "")
    calls_after_failure = len(s.calls)
    with pytest.raises(LabBlocked, match="'hyperv-installed' failed: A prerequisite check"):
        lab.reach(Step.L2_BOOTED)
    with pytest.raises(LabBlocked, match="hyperv-installed"):
        lab.require(Step.HYPERV_INSTALLED)
    # asking again returns the same outcome and never retries against the broken machine
    assert lab.reach(Step.HYPERV_INSTALLED) is outcome
    assert len(s.calls) == calls_after_failure


def test_vm_that_turns_off_while_awaited_fails_at_once() -> None:
    s = FakeSession()
    s.turns_off.add("nestedhv-abc123-l1")
    lab = make_lab(s, boot_timeout_s=600)
    outcome = lab.reach("l1-booted")
    assert not outcome.ok
    assert "turned Off" in (outcome.error or "")
    # the reason comes from the worker log, as a person would look it up
    assert "'nestedhv-abc123-l1' has encountered a fatal error." in (outcome.error or "")
    assert s.names().count("Wait-VM") == 1  # not 60 slices


def test_heartbeat_timeout_is_bounded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    s = FakeSession()
    s.heartbeat_never.add("nestedhv-abc123-l1")
    lab = make_lab(s, boot_timeout_s=30)
    with caplog.at_level("INFO", logger="pytest_nestedhv.lab"):
        outcome = lab.reach("l1-booted")
    assert not outcome.ok and "within 30 s" in (outcome.error or "")
    assert s.names().count("Wait-VM") == 3
    assert "waiting for L1 heartbeat: 10 s" in caplog.text
    assert "pw-not-logged" not in caplog.text


def test_missing_base_image_is_a_config_error() -> None:
    s = FakeSession(base_images=())
    lab = make_lab(s)
    with pytest.raises(LabConfigError, match="base image not found on the host: C:"):
        lab.preflight()


def test_cleanup_removes_only_this_runs_vms_and_disks() -> None:
    s = FakeSession()
    s.vms["user-vm"] = FakeVM("user-vm", notes="my precious", state="Running", disk="C:\\VHDs\\user.vhdx")
    s.files.add("C:\\VHDs\\user.vhdx")
    lab = make_lab(s)
    assert lab.reach(Step.L2_BOOTED).ok
    removed = lab.cleanup("never", failed=False)
    assert removed == ["nestedhv-abc123-l1"]
    assert set(s.vms) == {"user-vm"} and s.vms["user-vm"].state == "Running"
    assert "C:\\VHDs\\user.vhdx" in s.files and BASE in s.files
    assert "C:\\VHDs\\nestedhv-abc123-l1.vhdx" not in s.files
    # stopped with TurnOff before removal, never touching user-vm
    for where, name, cmd in s.calls:
        if name in ("Stop-VM", "Remove-VM", "Set-VM"):
            assert cmd.param("Name") != "user-vm"


def test_sweep_removes_earlier_tagged_runs_only() -> None:
    s = FakeSession()
    s.vms["nestedhv-old-l1"] = FakeVM("nestedhv-old-l1", notes="nestedhv-run:old", disk="C:\\VHDs\\nestedhv-old-l1.vhdx")
    s.vms["nestedhv-kept-l1"] = FakeVM("nestedhv-kept-l1", notes="nestedhv-run:kept nestedhv-kept")
    s.vms["looks-like-ours"] = FakeVM("looks-like-ours", notes="nestedhv is great")
    s.files.add("C:\\VHDs\\nestedhv-old-l1.vhdx")
    lab = make_lab(s)
    assert lab.reach("host-checked").ok
    assert set(s.vms) == {"nestedhv-kept-l1", "looks-like-ours"}
    assert "C:\\VHDs\\nestedhv-old-l1.vhdx" not in s.files
    assert lab.outcomes["host-checked"].evidence["swept"] == ["nestedhv-old-l1"]


def test_sweep_leaves_a_young_tagged_vm_alone(caplog: pytest.LogCaptureFixture) -> None:
    # another run may still be going on this host: its VMs are hours younger than any finished run's
    s = FakeSession()
    s.vms["nestedhv-busy-l1"] = FakeVM("nestedhv-busy-l1", notes="nestedhv-run:busy", state="Running",
                                       created="2026-11-26T20:50:00.5000000Z")
    with caplog.at_level("WARNING", logger="pytest_nestedhv.lab"):
        assert make_lab(s).reach("host-checked").ok
    assert "nestedhv-busy-l1" in s.vms
    assert "leaving VM nestedhv-busy-l1 (nestedhv-run:busy) alone: created 10 min ago" in caplog.text


@pytest.mark.parametrize(("keep", "failed", "kept"), [
    ("never", True, False), ("failed", False, False), ("failed", True, True), ("always", False, True),
])
def test_cleanup_obeys_keep(keep: str, failed: bool, kept: bool) -> None:
    s = FakeSession()
    lab = make_lab(s)
    assert lab.reach("l1-created").ok
    lab.cleanup(keep, failed)  # type: ignore[arg-type]
    assert ("nestedhv-abc123-l1" in s.vms) is kept
    if kept:
        assert "nestedhv-kept" in s.vms["nestedhv-abc123-l1"].notes


def test_toggle_on_running_l1_is_refused_and_recorded() -> None:
    s = FakeSession()
    lab = make_lab(s)
    assert lab.reach(Step.TOGGLE).ok
    t = lab.toggle
    assert t is not None
    assert t.refused and t.state == "Running" and "current state" in (t.error or "")
    assert req.evaluate("vm.toggle-while-running", lab.observations()).status == "pass"


def test_negative_branch_records_documented_refusal_and_removes_probe_vm() -> None:
    s = FakeSession()
    lab = make_lab(s)
    outcome = lab.reach(Step.NEGATIVE)
    assert outcome.ok, outcome.error
    assert "does not have required virtualization capabilities" in outcome.evidence["refusal"]
    assert "nestedhv-abc123-neg" not in s.vms
    assert req.evaluate("negative.no-extensions", lab.observations()).status == "pass"
    assert "l1-created" not in lab.outcomes  # the side branch does not build the main L1



def test_the_l1_joins_the_external_switch_unless_one_is_named() -> None:
    s = FakeSession()
    assert make_lab(s).reach("l1-created").ok
    new_vm = next(cmd for where, name, cmd in s.calls if name == "New-VM")
    assert new_vm.param("SwitchName") == "Uplink"  # External before Internal
    s = FakeSession()
    assert make_lab(s, switch="Lab").reach("l1-created").ok
    assert next(cmd for where, name, cmd in s.calls if name == "New-VM").param("SwitchName") == "Lab"
    with pytest.raises(LabConfigError, match="--nested-switch Nope: no such virtual switch on the host"):
        make_lab(FakeSession(), switch="Nope").preflight()


@pytest.mark.parametrize("guest_server", [True, False])
def test_switch_parameters_are_sent_as_switch(guest_server: bool) -> None:
    # why: a switch given as True renders as -X:$true in repro.ps1 instead of the bare -X users type
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))["cmdlets"]
    s = FakeSession(guest_server=guest_server)
    lab = make_lab(s)
    assert lab.reach(Step.L2_BOOTED).ok
    wrong = [f"{cmd.name} -{key}" for _, _, cmd in s.calls for key, value in cmd.params
             if reference.get(cmd.name, {}).get("parameters", {}).get(key, {}).get("type") == "SwitchParameter"
             and value is not SWITCH]
    assert wrong == []


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-11-26T20:50:00.5000000Z", "2026-11-26T20:50:00.500000+00:00"),
    ("2026-11-26T21:50:00.1234567+01:00", "2026-11-26T21:50:00.123456+01:00"),
    ("2026-11-26T20:50:00", "2026-11-26T20:50:00+00:00"),
    ("not a time", None),
    (None, None),
])
def test_dotnet_datetimes_as_pypsrp_hands_them_over(raw: object, expected: str | None) -> None:
    from pytest_nestedhv.hyperv.ports import as_datetime

    parsed = as_datetime(raw)
    assert (parsed.isoformat() if parsed else None) == expected


def test_a_wait_timeout_in_another_language_is_still_a_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from pytest_nestedhv.hyperv import waits

    german = RemoteError("Der Vorgang wurde beendet, da die Bedingung nicht im Zeitlimit erfüllt wurde.",
                         fqid="OperationFailed,Microsoft.HyperV.PowerShell.Commands.WaitVM", category="InvalidOperation")
    calls: list[int] = []

    def run(cmd: object, timeout: float) -> list[object]:
        calls.append(1)
        if len(calls) < 3:
            raise german
        return []

    clock = iter(range(0, 1000, 10))  # each Wait-VM slice of 10 s takes 10 s of the host's time
    monkeypatch.setattr(waits.time, "monotonic", lambda: next(clock))
    waits.wait_vm(run, "v", "Heartbeat", waits.WaitSpec("L1 heartbeat", 60, 10), logging.getLogger("t"))
    assert len(calls) == 3  # two timed-out slices, then success

    # the same error at once (not a timeout) ends the wait with its text
    monkeypatch.setattr(waits.time, "monotonic", lambda: 0)
    with pytest.raises(waits.WaitFailed, match="Der Vorgang"):
        waits.wait_vm(lambda cmd, t: (_ for _ in ()).throw(german), "v", "Heartbeat",
                      waits.WaitSpec("L1 heartbeat", 60, 10), logging.getLogger("t"))


def test_steps_form_a_declared_graph() -> None:
    from pytest_nestedhv.hyperv.steps import NEEDS, longest_chain

    assert set(NEEDS) == set(Step)
    assert Step.NEGATIVE.path() == (Step.HOST_CHECKED, Step.NEGATIVE)  # the side branch needs only the host
    assert Step.L2_BOOTED.path()[:3] == (Step.HOST_CHECKED, Step.L1_CREATED, Step.L1_BOOTED)
    assert Step.TOGGLE not in Step.L2_NETWORK.path()
    for step in Step:  # every prerequisite comes before its dependant
        path = step.path()
        assert all(path.index(n) < path.index(step) for n in step.needs)
    # the longest chain: the L1 chain, not the side branch, when the branch is shorter
    total, chain = longest_chain({"host-checked": 1, "l1-created": 2, "l1-booted": 10, "negative-no-extensions": 5})
    assert total == 13 and chain[-1] is Step.L1_BOOTED and Step.NEGATIVE not in chain


def test_a_step_that_does_not_apply_is_neither_run_nor_failed() -> None:
    s = FakeSession()
    lab = make_lab(s)  # no inner image: an L2 without an OS has no network
    outcome = lab.reach(Step.L2_NETWORK)
    assert not outcome.ok and "--nested-inner-image" in (outcome.error or "")
    assert Step.L2_NETWORK not in lab.outcomes and lab.first_failure(Step.L2_NETWORK) is None
    assert lab.outcomes[Step.L2_BOOTED].ok


def test_l1_generation_and_version_are_honoured() -> None:
    s = FakeSession()
    assert make_lab(s, generation=1, version="9.0").reach(Step.L1_CREATED).ok
    new_vm = next(cmd for _, name, cmd in s.calls if name == "New-VM")
    assert new_vm.param("Generation") == 1 and new_vm.param("Version") == "9.0"
    s = FakeSession()
    assert make_lab(s).reach(Step.L1_CREATED).ok
    new_vm = next(cmd for _, name, cmd in s.calls if name == "New-VM")
    assert new_vm.param("Generation") == 2 and new_vm.param("Version") is None  # the host's default version


class _Clonable(FakeSession):
    """A fake session that hands out clones for background branches: each clone records which
    thread called, and all of them act on the same fake host (under one lock)."""

    def __init__(self, delay: float = 0.0, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        import threading

        self.lock = threading.RLock()
        self.delay = delay
        self.clones = 0
        self.threads: dict[str, set[str]] = {}

    def clone(self) -> _Clonable._Clone:
        self.clones += 1
        return _Clonable._Clone(self)

    class _Clone:
        def __init__(self, parent: _Clonable) -> None:
            self.parent = parent
            self.closed = False

        def _call(self, name: str, *args: object, **kw: object) -> object:
            import threading
            import time

            time.sleep(self.parent.delay)
            with self.parent.lock:
                self.parent.threads.setdefault(threading.current_thread().name, set()).add(name)
                return getattr(FakeSession, name)(self.parent, *args, **kw)

        def run(self, *cmds: object, **kw: object) -> object:
            return self._call("run", *cmds, **kw)

        def run_statements(self, pipelines: object, **kw: object) -> object:
            return self._call("run_statements", pipelines, **kw)

        def in_guest(self, *args: object, **kw: object) -> object:
            return self._call("in_guest", *args, **kw)

        def close(self) -> None:
            self.closed = True


def test_the_negative_probe_runs_in_the_background_on_its_own_session() -> None:
    s = _Clonable()
    lab = make_lab(s, background=(Step.NEGATIVE,))
    assert lab.reach(Step.L2_BOOTED).ok
    assert s.clones == 1
    outcome = lab.reach(Step.NEGATIVE)  # joined: the branch's result, recorded once
    assert outcome.ok and "required virtualization capabilities" in outcome.evidence["refusal"]
    assert lab.reach(Step.NEGATIVE) is outcome
    assert any(name.startswith("nestedhv-negative") for name in s.threads)  # not the main thread
    assert [p.step for p in lab.timeline].count("negative-no-extensions") == 1
    assert "nestedhv-abc123-neg" not in s.vms and "nestedhv-abc123-neg" in lab.created_vms
    # the branch started right after the host was checked, before the L1 had booted
    negative = next(p for p in lab.timeline if p.step == "negative-no-extensions")
    booted = next(p for p in lab.timeline if p.step == "l1-booted")
    assert negative.started <= booted.started + datetime.timedelta(seconds=booted.duration_s)


def test_cleanup_stops_a_running_branch_before_removing_vms() -> None:
    s = _Clonable(delay=0.05)
    lab = make_lab(s, background=(Step.NEGATIVE,))
    assert lab.reach(Step.HOST_CHECKED).ok  # the branch starts now
    lab.cleanup("never", failed=False)
    outcome = lab.outcomes[Step.NEGATIVE]
    assert not outcome.ok and "cancelled" in (outcome.error or "")
    assert not [name for name in s.vms if name.startswith("nestedhv-abc123")]


def test_without_a_clonable_session_the_branch_runs_when_asked() -> None:
    s = FakeSession()
    lab = make_lab(s, background=(Step.NEGATIVE,))
    assert lab.reach(Step.L1_BOOTED).ok
    assert Step.NEGATIVE not in lab.outcomes
    assert lab.reach(Step.NEGATIVE).ok


def _observer(s: FakeSession, **host: object) -> Observer:
    from .test_requirements import HOST

    return Observer(s, make_lab(s), host_facts=dataclasses.replace(HOST, **host))  # type: ignore[arg-type]


def test_a_failed_step_is_reported_once_and_blocks_what_needs_it() -> None:
    s = FakeSession()
    s.fail["New-VM"] = RemoteError("The operation failed because the file was not found.", fqid="OperationFailed")
    observer = _observer(s)
    own = observer.judge("vm.config-version")  # the first requirement whose path has l1-created reports it
    assert own.status == "fail" and own.found.startswith("lab step 'l1-created' failed: The operation failed")
    assert "the lab step 'l1-created' succeeds" in own.required
    for rid in ("vm.memory", "guest.hypervisor", "nested.boot"):
        f = observer.judge(rid)
        assert (f.status, f.blocked_by, f.remedy) == ("skip", "vm.config-version", "")
        assert f.found.startswith("blocked by vm.config-version (lab step 'l1-created' failed: The operation failed")
    negative = observer.judge("negative.no-extensions")  # the side branch needs only the host: its own finding
    assert negative.status == "fail" and negative.blocked_by is None
    assert observer.judge("host.build").status == "pass"
    assert s.names().count("New-VM") == 2  # the L1 once (never retried), the probe once


def test_a_host_failure_is_the_root_cause_of_what_it_explains() -> None:
    s = FakeSession()
    s.fail["New-VM"] = RemoteError("The term 'New-VM' is not recognized as the name of a cmdlet.")
    observer = _observer(s, hypervisor_present=False, hyperv_role_installed=False)
    assert observer.judge("host.hypervisor").status == "fail"
    for rid in ("vm.config-version", "vm.mac-spoofing", "nested.create", "negative.no-extensions"):
        f = observer.judge(rid)
        assert f.blocked_by == "host.hypervisor" and f.found.startswith("blocked by host.hypervisor (found ")
    assert observer.judge(  # judged once: the same finding again
        "nested.create") is observer.judge("nested.create")
