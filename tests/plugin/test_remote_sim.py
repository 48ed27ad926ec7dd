"""A real session against the full emulated host (engine + model), through the plugin."""
from __future__ import annotations

import pytest

# why: pytester's in-process runs drop modules first imported inside them; pypsrp/requests
# re-imported later would no longer match the classes other tests hold
import pypsrp.powershell  # noqa: F401,E402
import pypsrp.wsman  # noqa: F401,E402
import pytest_nestedhv.remote.hosts  # noqa: F401,E402
import pytest_nestedhv.remote.session  # noqa: F401,E402
import pytest_nestedhv.remote.wire  # noqa: F401,E402

TESTS = """
from pytest_nestedhv.remote import Cmd, RemoteError
import pytest

def test_host_objects(nested_host):
    vmhost = nested_host.session.run(Cmd.of("Get-VMHost"))[0]
    assert vmhost.is_type("Microsoft.HyperV.PowerShell.VMHost")
    assert nested_host.info["build"] == "26100"
    with pytest.raises(RemoteError) as info:
        nested_host.session.run(Cmd.of("Get-VM", Name="no-such-vm-xyz"))
    assert "no-such-vm-xyz" in str(info.value)
"""


def test_plugin_session_against_the_emulator(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NESTED_HOST", raising=False)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--nested-host=sim",
                                          f"--nested-report-dir={pytester.path / 'reports'}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*sim: emulated host, scenario default, build 26100.*"])
