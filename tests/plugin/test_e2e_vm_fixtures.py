"""The public fixtures (nested_host, nested_l1, nested_inner_vm) and every VM handle method,
over the wire against in-process emulators, in pytester runs of users' test files.

A conftest in the pytester folder records what the emulators hold when the run ends (every VM
at every depth, with its Notes) and which xdist worker ran each test, so cleanup, --nested-keep
and host affinity are checked on the emulated hosts themselves, not on the plugin's intentions.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pytest_nestedhv.sim.scenario import load_scenario

RECORDER = r'''
import json, os
import pytest
from pytest_nestedhv.sim.powershell.engine import Engine

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "controller")
WORLDS = []
NEW_VM = []
_init = Engine.__init__
def _engine(self, world, **kw):
    WORLDS.append(world)
    _init(self, world, **kw)
Engine.__init__ = _engine
_invoke = Engine.invoke
def _recording(self, spec, input_objects, ctx, expects_input):
    if not spec.is_script and spec.name == "New-VM":
        NEW_VM.append([self.world.scenario_name, ctx.node.depth, dict((k, str(v)) for k, v in spec.parameters if k)])
    return _invoke(self, spec, input_objects, ctx, expects_input)
Engine.invoke = _recording

@pytest.fixture(autouse=True)
def _which_worker(request):
    with open(f"ran-{WORKER}.txt", "a", encoding="utf-8") as f:
        f.write(request.node.nodeid + "\n")
    yield

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    vms = []
    for world in WORLDS:
        for node in world.nodes():
            vms += [[world.scenario_name, node.depth, vm.name, vm.notes, vm.state] for vm in node.vms]
    with open(f"world-{WORKER}.json", "w", encoding="utf-8") as f:
        json.dump({"vms": vms, "new_vm": NEW_VM}, f)
'''


class Run:
    def __init__(self, pytester: pytest.Pytester, result: Any) -> None:
        self.result = result
        self.output = "\n".join(result.outlines + result.errlines)
        worlds = [json.loads(p.read_text(encoding="utf-8")) for p in pytester.path.glob("world-*.json")]
        self.vms = [tuple(v) for w in worlds for v in w["vms"]]
        self.new_vm = [v for w in worlds for v in w["new_vm"]]
        self.ran = {p.stem.removeprefix("ran-"): p.read_text(encoding="utf-8").split()
                    for p in pytester.path.glob("ran-*.txt")}

    def outcomes(self) -> dict[str, int]:
        return self.result.parseoutcomes()

    def ours(self, depth: int) -> list[tuple[Any, ...]]:
        return [v for v in self.vms if v[1] == depth and v[2].startswith("nestedhv-")]


def run_tests(pytester: pytest.Pytester, source: str, *args: str, timeout: float = 300) -> Run:
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(test_user=source)
    args = args or ("--nested-host=sim",)
    result = pytester.runpytest_subprocess("test_user.py", "-p", "no:cacheprovider", "-p", "no:randomly", *args,
                                           timeout=timeout)
    return Run(pytester, result)


HANDLES = '''
import datetime
import pytest
from pytest_nestedhv import VM, HyperVHost, RemoteCommandError

def test_host_handle(nested_host):
    assert isinstance(nested_host, HyperVHost)
    (vmhost,) = nested_host.run("Get-VMHost")
    assert vmhost.LogicalProcessorCount == vmhost["logicalprocessorcount"] == 16
    assert nested_host.facts.build == 26100 and "12.0" in nested_host.facts.supported_versions
    with pytest.raises(RemoteCommandError, match='unable to find a virtual machine with name "absent"') as info:
        nested_host.vm("absent").refresh()
    with pytest.raises(RemoteCommandError) as err:
        nested_host.run("Get-VM", Name="absent")
    assert err.value.fqid == "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM"
    assert err.value.category == "InvalidArgument"
    assert err.value.message == 'Hyper-V was unable to find a virtual machine with name "absent".'

def test_l1_handle(nested_l1, nested_host):
    assert isinstance(nested_l1, VM) and nested_l1.state == "Running"
    assert nested_l1.name.startswith("nestedhv-") and nested_l1.name.endswith("-l1")
    assert nested_l1.processor.ExposeVirtualizationExtensions is True and nested_l1.processor.Count == 2
    assert nested_l1.memory.Startup == 4 * 1024**3 and nested_l1.memory.DynamicMemoryEnabled is False
    (adapter,) = nested_l1.network_adapters
    assert adapter.MacAddressSpoofing == "On"
    (system,) = nested_l1.run("Get-CimInstance", ClassName="Win32_ComputerSystem")
    assert system.HypervisorPresent is True
    assert nested_host.vm(nested_l1.name).refresh().state == "Running"
    started = [e for e in nested_l1.events() if e.Id == 18500]
    assert started and nested_l1.name in started[0].Message
    assert nested_l1.events(since=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)) == []

def test_l2_lifecycle(nested_inner_vm, nested_l1):
    l2 = nested_inner_vm(processors=4, memory="1GB", name="life")
    assert l2.name.endswith("-life") and l2.state == "Running"
    assert l2.wait_running(timeout=30) is l2
    l2.wait_heartbeat(timeout=600)
    assert l2.refresh().info.Heartbeat == "OkApplicationsHealthy"
    assert l2.processor.Count == 4 and l2.memory.Startup == 1024**3
    (os_,) = l2.run("Get-CimInstance", ClassName="Win32_OperatingSystem")
    assert os_.PSComputerName == l2.name and "Windows Server" in os_.Caption
    snap = l2.checkpoint("before")
    assert snap.Name == "before" and snap.VMName == l2.name
    assert l2.save().state == "Saved"
    assert l2.start().state == "Running"
    assert l2.stop(turn_off=True).state == "Off"
    assert [e.Id for e in l2.events()][:2] == [18560, 18500]
    names = [vm.Name for vm in nested_l1.run("Get-VM")]
    assert l2.name in names
    with pytest.raises(RemoteCommandError, match="credential|cannot handle") as err:
        l2.run("Get-Service")  # Off: PowerShell Direct cannot reach it
    assert "InvokeCommandCommand" in err.value.fqid

def test_l2_without_image_and_not_started(nested_inner_vm, nested_l1):
    l2 = nested_inner_vm(start=False, generation=1)
    assert l2.state == "Off"
    (vm,) = nested_l1.run("Get-VM", Name=l2.name)
    assert vm.Generation == 1 and "nestedhv-run:" in vm.Notes
'''


def test_every_handle_method_over_the_wire(pytester: pytest.Pytester) -> None:
    run = run_tests(pytester, HANDLES)
    assert run.outcomes() == {"passed": 4}, run.output[-3000:]
    # one L1 for all four tests (one shape), two L2s created in it, everything removed at the end
    assert [(s, d) for s, d, _ in run.new_vm] == [("default", 0), ("default", 1), ("default", 1)]
    assert run.ours(0) == [] and run.ours(1) == [], run.vms


SHAPES = '''
import pytest

seen = {}

def test_default(nested_l1):
    seen["default"] = nested_l1.name

def test_default_again(nested_l1):
    assert nested_l1.name == seen["default"]

@pytest.mark.nested_l1(memory="6GB", processors=4)
def test_big(nested_l1):
    assert nested_l1.name != seen["default"]
    seen["big"] = nested_l1.name
    assert nested_l1.processor.Count == 4 and nested_l1.memory.Startup == 6 * 1024**3

@pytest.mark.nested_l1(processors=4, memory="6144MB")
def test_big_again(nested_l1):
    assert nested_l1.name == seen["big"]

@pytest.mark.nested_l1(version="7.0")
def test_old_version(nested_l1):
    pass

@pytest.mark.nested_l1(memory="512GB")
def test_too_much_memory(nested_l1):
    pass

@pytest.mark.nested_l1(memory="lots")
def test_bad_size(nested_l1):
    pass
'''


def test_l1_shapes_are_shared_built_lazily_and_refused_in_one_line(pytester: pytest.Pytester) -> None:
    run = run_tests(pytester, SHAPES)
    assert run.outcomes() == {"passed": 4, "errors": 3}, run.output[-3000:]
    l1s = [p for s, d, p in run.new_vm if d == 0]
    assert [p["MemoryStartupBytes"] for p in l1s] == [str(4 * 1024**3), str(6 * 1024**3)]
    out = run.output
    lines = run.result.outlines
    assert ("@pytest.mark.nested_l1(version='7.0'): version 7.0 is not supported on HV-HOST01 "
            "(build 26100.1742); it supports 8.0, 8.1, 8.2, 8.3, 9.0, 9.1, 9.2, 9.3, 10.0, 11.0, 12.0") in lines
    assert "@pytest.mark.nested_l1(memory='512GB'): memory 524288MB is more than HV-HOST01 has (65536MB)" in lines
    assert "@pytest.mark.nested_l1(memory='lots'): memory='lots': give a size such as '4GB' or '512MB'" in lines
    assert "Traceback" not in out and "During handling" not in out
    assert run.ours(0) == []


CLEANUP = '''
import pytest

def test_fails_after_creating(nested_inner_vm):
    nested_inner_vm(name="doomed")
    assert False, "the test failed"

def test_sees_no_leftover(nested_l1, nested_inner_vm):
    names = [vm.Name for vm in nested_l1.run("Get-VM")]
    assert not [n for n in names if n.endswith("-doomed")], names
    nested_inner_vm(name="passes")

def test_interrupted(nested_inner_vm):
    nested_inner_vm(name="interrupted")
    raise KeyboardInterrupt
'''


def test_l2s_are_removed_after_failure_and_ctrl_c(pytester: pytest.Pytester) -> None:
    run = run_tests(pytester, CLEANUP)
    assert "KeyboardInterrupt" in run.output and "1 failed, 1 passed" in run.output, run.output[-3000:]
    created = [p["Name"] for s, d, p in run.new_vm if d == 1]
    assert [n.rsplit("-", 1)[-1] for n in created] == ["doomed", "passes", "interrupted"]
    assert run.ours(1) == [] and run.ours(0) == [], run.vms


KEEP = '''
def test_fails(nested_inner_vm):
    nested_inner_vm(name="failing")
    assert False

def test_passes(nested_inner_vm):
    nested_inner_vm(name="passing")
'''


def test_keep_failed_keeps_the_failing_tests_l2_and_the_l1(pytester: pytest.Pytester) -> None:
    run = run_tests(pytester, KEEP, "--nested-host=sim", "--nested-keep=failed")
    assert run.outcomes() == {"failed": 1, "passed": 1}
    kept = {name.rsplit("-", 1)[-1]: notes for _s, depth, name, notes, _st in run.ours(1)}
    assert list(kept) == ["failing"] and "nestedhv-kept" in kept["failing"].split()
    assert [v[2].endswith("-l1") and "nestedhv-kept" in v[3] for v in run.ours(0)] == [True]


XDIST = '''
import pytest

@pytest.mark.parametrize("n", range(3))
def test_l2(nested_inner_vm, n):
    nested_inner_vm().wait_heartbeat(timeout=600)

@pytest.mark.nested_l1(processors=3)
def test_other_shape(nested_l1):
    assert nested_l1.processor.Count == 3
'''


def test_xdist_keeps_each_hosts_user_tests_on_one_worker(pytester: pytest.Pytester) -> None:
    run = run_tests(pytester, XDIST, "-n", "2", "--nested-host=sim", "--nested-host=sim:vbs-running")
    assert run.outcomes() == {"passed": 8}, run.output[-3000:]
    for label in ("sim]", "sim-vbs-running]"):
        workers = {w for w, ids in run.ran.items() if any(i.endswith(label) for i in ids)}
        assert len(workers) == 1, (label, run.ran)
    # each host: two L1 shapes, three L2s; all removed
    for scenario in ("default", "vbs-running"):
        assert sorted(d for s, d, _ in run.new_vm if s == scenario) == [0, 0, 1, 1, 1]
    assert run.ours(0) == [] and run.ours(1) == []


SECRETS = '''
def test_guest_calls(nested_inner_vm):
    l2 = nested_inner_vm()
    l2.wait_heartbeat(timeout=600)
    l2.run("Get-Service", Name="vmms")
'''


def test_no_guest_password_anywhere(pytester: pytest.Pytester) -> None:
    run = run_tests(pytester, SECRETS, "--nested-host=sim", "-rA")
    assert run.outcomes() == {"failed": 1}  # no Hyper-V in the L2: Get-Service finds no vmms
    password = load_scenario("default").guest.admin_password
    assert password and password not in run.output
    for path in pytester.path.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".xml", ".ps1", ".md", ".json", ".txt"):
            assert password not in path.read_text(encoding="utf-8", errors="replace"), path


def test_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    text = "\n".join(result.outlines)
    for name, words in (("nested_host", "nested_host.run(cmdlet, **params)"), ("nested_l1", "nesting-enabled L1"),
                        ("nested_inner_vm", "A factory of L2 VMs"), ("nested_l1_pool", "one per ``nested_l1`` shape")):
        assert f"{name} [" in text or f"{name} --" in text or f"\n{name}" in text, name
        assert words in text, name
    markers = pytester.runpytest_subprocess("--markers", "-p", "no:cacheprovider")
    assert "@pytest.mark.nested_l1(memory='4GB', processors=2" in "\n".join(markers.outlines)


REPORTED = '''
def test_passes(nested_l1):
    nested_l1.run("Get-Service", Name="vmms")

def test_crashes(nested_inner_vm):
    nested_inner_vm(name="crashy", processors=4).wait_heartbeat(timeout=600)
'''


def test_user_tests_are_reported_like_the_suites(pytester: pytest.Pytester) -> None:
    import html
    import re

    run = run_tests(pytester, REPORTED, "--nested-host=sim:nested-boot-crash")
    assert run.outcomes() == {"passed": 1, "failed": 1}, run.output[-3000:]
    reports = pytester.path / "reports"
    (bundle,) = reports.glob("feedback/*/")
    # the failing test's events: read inside the L1, about the L2 it made, tagged with the test
    events = [e for p in (bundle / "events").glob("guest-*.json") for e in json.loads(p.read_text("utf-8"))]
    crashed = [e for e in events if e["id"] == 18590]
    assert crashed and "-crashy' has encountered a fatal error" in crashed[0]["message"]
    assert crashed[0]["test"].endswith("test_crashes[sim-nested-boot-crash]")
    assert crashed[0]["machine"].startswith("guest:nestedhv-") and crashed[0]["machine"].endswith("-l1")
    # repro.ps1: the lab steps the test depended on, then its own calls, up to the one that failed
    repro = (bundle / "repro.ps1").read_text("utf-8")
    order = [repro.index(s) for s in ("Write-Step -Text 'step: l1-created'", "Write-Step -Text 'step: guest-rebooted'",
                                      '-crashy" -Generation 2', '-crashy" -Count 4',
                                      "# the call that failed in the run:")]
    assert order == sorted(order), repro
    assert "StartTime" not in repro  # the event-log reads made for the report are never replayed
    assert "build 26100.1742" in repro
    # report.html: each test's PowerShell calls in its transcript section
    page = html.unescape((reports / "report.html").read_text("utf-8"))
    blob = re.search(r'data-jsonblob="([^"]*)"', (reports / "report.html").read_text("utf-8"))
    text = html.unescape(blob.group(1)) if blob else page
    assert "Get-Service -Name" in text and "-crashy" in text


BLOCKED = '''
def test_one(nested_l1):
    pass

def test_two(nested_inner_vm):
    pass
'''


def test_a_failed_lab_step_is_one_error_naming_it_and_never_retried(pytester: pytest.Pytester) -> None:
    run = run_tests(pytester, BLOCKED, "--nested-host=sim:guest-install-fails")
    assert run.outcomes() == {"errors": 2}, run.output[-3000:]
    line = ("nested_l1 on sim-guest-install-fails: the L1 could not be built: lab step 'hyperv-installed' failed: "
            "Installation of one or more roles, role services, or features failed.")
    assert sum(1 for text in run.result.outlines if text.startswith(line)) == 2
    assert [d for _s, d, _p in run.new_vm] == [0]  # one L1, built once; no L2 in a broken lab
    assert run.ours(0) == []


def test_a_host_crash_under_a_users_test_is_waited_for_named_and_blocks_the_l1(pytester: pytest.Pytester) -> None:
    """sim:host-bugcheck bugchecks the host when an L2 starts, here in the test's own call (no lab
    step): the plugin waits for the host, fails that test with the bugcheck, and the L1 that went
    down with the host is an error for the next test, not a VM that is silently Off."""
    run = run_tests(pytester, """
def test_starts_an_l2(nested_inner_vm):
    nested_inner_vm()

def test_uses_the_l1_afterwards(nested_l1):
    assert nested_l1.state == "Running"
""", "--nested-host=sim:host-bugcheck")
    out = run.result.stdout.str()
    assert run.outcomes() == {"failed": 1, "errors": 1}, out[-3000:]
    assert ("host bugchecked 0x00020001 (0x0000000000000011, 0x0000000000000000, 0x0000000000000000, "
            "0x0000000000000000) during test test_starts_an_l2[sim-host-bugcheck]; dump: C:\\Windows\\MEMORY.DMP; "
            "fix: the host itself went down") in out
    assert "host not answering for" in out and "host answers again after" in out
    assert re.search(r"nestedhv verdict for sim-host-bugcheck: .*\n  the host went down: host bugchecked 0x00020001", out)
    assert re.search(r"ERROR at setup of test_uses_the_l1_afterwards.*\n(.*\n)*?.*the host went down under the run: "
                     r"host bugchecked 0x00020001", out)
    feedback = next((pytester.path / "reports" / "feedback").glob("*/feedback.md")).read_text("utf-8")
    assert feedback.startswith("# Nested virtualization: host bugcheck 0x00020001 HYPERVISOR_ERROR during test "
                               "test_starts_an_l2[sim-host-bugcheck] on ")


@pytest.mark.parametrize("first", ["suite", "mine"])
def test_the_suite_and_nested_l1_share_one_default_l1(pytester: pytest.Pytester, first: str) -> None:
    """A suite check and a user's nested_l1 test in one run build one L1 (an L1 costs a Hyper-V
    install), whichever comes first; it is removed once, at the end, and nothing is left."""
    suite = '''
@pytest.mark.requirement("guest.hypervisor")
def test_suite_check(requirement):
    requirement()
'''
    mine = '''
def test_mine(nested_l1, nested_inner_vm):
    assert nested_l1.state == "Running"
    assert nested_inner_vm().state == "Running"
'''
    run = run_tests(pytester, "import pytest\nfrom pytest_nestedhv.fixtures import nested_observer, requirement\n"
                    + (suite + mine if first == "suite" else mine + suite))
    assert run.outcomes() == {"passed": 2}, run.output[-3000:]
    l1s = [params["Name"] for _scenario, depth, params in run.new_vm if depth == 0]
    assert len(l1s) == 1, l1s
    assert run.ours(0) == [] and run.ours(1) == [], run.vms
    assert f"cleaned up: removed {l1s[0]} with the disks this run made" in run.output


def test_nested_host_restart_waits_for_the_host_and_the_l1_boots_again(pytester: pytest.Pytester) -> None:
    """A restart the test asks for is no crash: the call returns once the host answers again, with
    what its log says; the L1 went down with the host, and nested_l1 boots it again for the next test."""
    run = run_tests(pytester, """
def test_restart(nested_host, nested_l1):
    record = nested_host.restart()
    assert record.kind == "planned" and record.asked and record.boot_time
    assert record.planned_reason == "No title for this reason could be found"  # Restart-Computer's own 1074
    assert nested_l1.refresh().state in ("Saved", "Off")

def test_after(nested_l1, nested_inner_vm):
    assert nested_l1.state == "Running"
    assert nested_inner_vm().state == "Running"
""")
    out = run.result.stdout.str()
    assert run.outcomes() == {"passed": 2}, out[-3000:]
    assert "restarting the host (nested_host.restart())" in out and "host answers again after" in out
    assert "the host went down" not in out  # the verdict counts no crash
    assert [p["Name"] for _s, depth, p in run.new_vm if depth == 0] == [run.new_vm[0][2]["Name"]]  # one L1
