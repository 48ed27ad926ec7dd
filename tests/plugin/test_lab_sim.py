"""The lab over the wire against the emulated host: the L1's shape, and the overlapped probe."""
from __future__ import annotations

import pytest

LAB_TEST = '''
import pytest
from pytest_nestedhv.hyperv.lab import Lab, LabConfig, Step

def _lab(host, suffix, **kw):
    return Lab(host.session, LabConfig(run_id=host.run_id + suffix, base_image=host.base_image,
                                       guest_cred=host.guest_credential, **kw))

def test_the_l1_has_the_generation_and_version_asked_for(nested_host):
    lab = _lab(nested_host, "v", version="9.0")
    lab.preflight()
    outcome = lab.reach(Step.L1_CREATED)
    assert outcome.ok, outcome.error
    assert lab.vm_facts.version == "9.0" and lab.vm_facts.generation == 2
    assert lab.cleanup("never", failed=False) == [lab.names.l1]

def test_an_unsupported_version_fails_the_step_with_windows_text(nested_host):
    lab = _lab(nested_host, "w", version="1.0")
    lab.preflight()
    outcome = lab.reach(Step.L1_CREATED)
    assert not outcome.ok and "1.0" in outcome.error
    lab.cleanup("never", failed=False)

def test_the_probe_overlaps_the_l1_on_its_own_session(nested_host):
    lab = _lab(nested_host, "p", background=(Step.HOST_CHECKED, Step.NEGATIVE))
    lab.preflight()
    lab.start_background()
    assert lab.reach(Step.GUEST_HYPERVISOR).ok
    negative = lab.reach(Step.NEGATIVE)
    assert negative.ok and negative.evidence["refusal"], negative.error
    phases = {p.step: p for p in lab.timeline}
    probe, install = phases["negative-no-extensions"], phases["hyperv-installed"]
    assert probe.started < install.started  # it ran while the L1 was being built
    steps = {e.step for e in nested_host.session.transcript.entries}
    assert "negative-no-extensions" in steps and "hyperv-installed" in steps  # one transcript, tagged per thread
    lab.cleanup("never", failed=False)
'''


def test_lab_against_the_emulated_host(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_lab_wire=LAB_TEST)
    result = pytester.runpytest_subprocess("--nested-host=sim", "-p", "no:cacheprovider", "-q",
                                           f"--nested-report-dir={pytester.path / 'reports'}")
    result.assert_outcomes(passed=3)
