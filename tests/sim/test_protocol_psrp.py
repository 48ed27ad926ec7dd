"""PSRP through the server: what the engine receives and what the client gets back."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from psrpcore.types import PSSecureString
from pypsrp.complex_objects import GenericComplexObject
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from pytest_nestedhv.sim.powershell.request import CommandSpec
from pytest_nestedhv.sim.server import SimServer
from pytest_nestedhv.sim.server.echo_engine import EchoEngine


@pytest.fixture
def server(sim_server: Callable[..., SimServer]) -> SimServer:
    return sim_server(auth="basic", https=False)


def test_cmdlets_statements_scripts_and_input_reach_the_engine(
    server: SimServer, sim_wsman: Callable[..., object], echo_engine: EchoEngine
) -> None:
    with RunspacePool(sim_wsman(server)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM").add_parameter("Name", "vm1").add_parameter("ComputerName", ["a", "b"])
        ps.add_cmdlet("Select-Object").add_parameter("First", 1)
        ps.add_statement()
        ps.add_script("param($VMName) 'x'").add_parameter("VMName", "vm1").add_argument("pos")
        output = ps.invoke()

        with_input = PowerShell(pool)
        with_input.add_cmdlet("Out-Null")
        input_output = with_input.invoke(input=["one", "two"])

    first, second = echo_engine.requests
    assert first.statements[0] == [
        CommandSpec("Get-VM", False, [("Name", "vm1"), ("ComputerName", ["a", "b"])]),
        CommandSpec("Select-Object", False, [("First", 1)]),
    ]
    assert first.statements[1] == [CommandSpec("param($VMName) 'x'", True, [("VMName", "vm1"), (None, "pos")])]
    assert len(first.statements) == 2 and first.input == []
    assert output[:2] == ["Get-VM", "Name=vm1"]
    assert second.input == ["one", "two"]
    assert input_output[:2] == ["input:one", "input:two"]


def test_non_terminating_error_leaves_the_pipeline_completed(
    server: SimServer, sim_wsman: Callable[..., object]
) -> None:
    with RunspacePool(sim_wsman(server)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Error").add_parameter("Message", "soft failure")
        ps.add_statement()
        ps.add_cmdlet("Get-VM")
        output = ps.invoke()

    assert output == ["Get-VM"]  # the next statement still ran
    assert ps.had_errors is False
    assert ps.state == PSInvocationState.COMPLETED
    assert [str(e) for e in ps.streams.error] == ["soft failure"]
    assert ps.streams.error[0].fq_error == "Microsoft.PowerShell.Commands.WriteErrorException"


def test_terminating_error_fails_the_pipeline_with_the_error_record(
    server: SimServer, sim_wsman: Callable[..., object]
) -> None:
    with RunspacePool(sim_wsman(server)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Throw-Error").add_parameter("Message", "hard failure")
        ps.add_statement()
        ps.add_cmdlet("Get-VM")
        output = ps.invoke()

    assert output == []  # nothing after the terminating error
    assert ps.had_errors is True
    assert ps.state == PSInvocationState.FAILED
    (error,) = ps.streams.error
    assert str(error) == "hard failure"
    assert error.fq_error == "EchoTerminating,Echo"
    assert error.category == 7  # ErrorCategory.InvalidOperation
    assert error.reason == "InvalidOperationException"
    assert error.activity == "Throw-Error"
    assert error.target_object == "echo-target"
    assert error.exception.types[0] == "System.InvalidOperationException"


def test_warning_and_verbose_streams(server: SimServer, sim_wsman: Callable[..., object]) -> None:
    with RunspacePool(sim_wsman(server)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Warning").add_parameter("Message", "careful")
        ps.add_statement()
        ps.add_cmdlet("Write-Verbose").add_parameter("Message", "details")
        ps.invoke()
    assert [w.message for w in ps.streams.warning] == ["careful"]
    assert [v.message for v in ps.streams.verbose] == ["details"]


def test_secure_string_arrives_decrypted_after_key_exchange(
    server: SimServer, sim_wsman: Callable[..., object], echo_engine: EchoEngine
) -> None:
    from pypsrp.complex_objects import ObjectMeta

    with RunspacePool(sim_wsman(server)) as pool:
        pool.exchange_keys()
        secret = pool.serialize("s3cret-value", ObjectMeta("SS"))
        ps = PowerShell(pool)
        ps.add_cmdlet("New-Object").add_parameter("Password", secret)
        output = ps.invoke()

    (request,) = echo_engine.requests
    ((name, value),) = request.statements[0][0].parameters
    assert name == "Password"
    assert isinstance(value, PSSecureString)
    assert value.decrypt() == "s3cret-value"
    assert "s3cret-value" not in " ".join(str(o) for o in output)


def test_set_max_runspaces_round_trip(server: SimServer, sim_wsman: Callable[..., object]) -> None:
    # pypsrp sends the call id as "CI"; the server must still answer it
    with RunspacePool(sim_wsman(server)) as pool:
        pool.max_runspaces = 3
        assert pool.max_runspaces == 3
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM")
        assert ps.invoke() == ["Get-VM"]


def test_stop_cancels_a_long_running_pipeline(
    server: SimServer, sim_wsman: Callable[..., object], echo_engine: EchoEngine
) -> None:
    with RunspacePool(sim_wsman(server)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Start-Sleep").add_parameter("Seconds", 60)
        ps.begin_invoke()
        started = time.monotonic()
        ps.stop()
        assert echo_engine.cancelled.wait(5), "the engine never saw the cancel event"
        assert time.monotonic() - started < 5
        assert ps.state == PSInvocationState.STOPPED

        again = PowerShell(pool)
        again.add_cmdlet("Get-VM")
        assert again.invoke() == ["Get-VM"]  # the pool is still usable


def test_four_clients_at_once(server: SimServer, sim_wsman: Callable[..., object]) -> None:
    results: dict[int, list[list[object]]] = {}
    failures: list[BaseException] = []
    clients = [sim_wsman(server) for _ in range(4)]

    def work(index: int) -> None:
        try:
            with RunspacePool(clients[index]) as pool:
                outputs = []
                for round_no in range(5):
                    ps = PowerShell(pool)
                    ps.add_cmdlet("Get-VM").add_parameter("Name", f"c{index}-r{round_no}")
                    outputs.append(ps.invoke())
                results[index] = outputs
        except BaseException as exc:  # collected and re-raised in the test thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    for index in range(4):
        assert results[index] == [["Get-VM", f"Name=c{index}-r{r}"] for r in range(5)]


def test_two_pools_on_one_connection(server: SimServer, sim_wsman: Callable[..., object]) -> None:
    wsman = sim_wsman(server)
    with RunspacePool(wsman) as first, RunspacePool(wsman) as second:
        a, b = PowerShell(first), PowerShell(second)
        a.add_cmdlet("Get-VM").add_parameter("Name", "a")
        b.add_cmdlet("Get-VM").add_parameter("Name", "b")
        a.begin_invoke()
        b.begin_invoke()
        assert b.end_invoke() == ["Get-VM", "Name=b"]
        assert a.end_invoke() == ["Get-VM", "Name=a"]
        assert server.shells.shell_count() == 2
    assert server.shells.shell_count() == 0  # Delete removed both shells


def test_complex_output_objects_keep_their_type_names(
    sim_server: Callable[..., SimServer], sim_wsman: Callable[..., object]
) -> None:
    from psrpcore.types import PSObject, add_note_property

    class ObjectEngine:
        def run(self, request, sink, cancel):  # type: ignore[no-untyped-def]
            obj = PSObject()
            obj.PSObject.type_names = ["Microsoft.HyperV.PowerShell.VirtualMachine", "System.Object"]
            obj.PSObject.to_string = "vm1"
            add_note_property(obj, "Name", "vm1")
            add_note_property(obj, "MemoryStartup", 2147483648)
            sink.output(obj)

    server = sim_server(ObjectEngine(), auth="basic", https=False)
    with RunspacePool(sim_wsman(server)) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-VM")
        (vm,) = ps.invoke()
    assert isinstance(vm, GenericComplexObject)
    assert vm.types[0] == "Microsoft.HyperV.PowerShell.VirtualMachine"
    assert vm.extended_properties["Name"] == "vm1"
    assert vm.extended_properties["MemoryStartup"] == 2147483648
