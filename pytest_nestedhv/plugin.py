"""The pytest plugin ``nestedhv``: options, ini keys, markers, report header, host fixture.

Loaded in every pytest run of its users, so importing it does no work: pypsrp, tenacity and
the emulator are imported only once a --nested-host is given and a session opens. Without
--nested-host the plugin changes nothing visible.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn, cast

import pytest

from .config import AUTHS, KEEP_CHOICES, Settings, settings_from_config
from .exitcodes import NestedExit
from .handover import (
    PHASE_REPORTS_KEY,
    TEST_KEY,
    TestEvidence,
    host_evidence,
    item_failed,
)
from .remote.errors import ConnectionFailed, HostGone, HostLost, HostUnreachable
from .secrets import SecretMask, SecretMaskFilter

if TYPE_CHECKING:
    from .hyperv.machines import HyperVHost
    from .remote.hosts import HostPool

# the public VM fixtures (nested_l1, nested_inner_vm) and their marker; a light import
pytest_plugins = ["pytest_nestedhv.vm_fixtures"]

EXIT_CONNECTION_FAILED = NestedExit.HOST_UNREACHABLE  # the session stopped before any test ran
NO_HOST = ("no --nested-host given: name the host to validate with --nested-host=NAME "
           "(or sim for the emulated host), the NESTED_HOST variable or the nested_hosts ini key")
WORKER_RUN_ID = "nestedhv_run_id"


@dataclasses.dataclass
class NestedState:
    """Everything the plugin keeps for one pytest run (in ``config.stash``)."""

    settings: Settings
    mask: SecretMask
    hosts: HostPool
    is_worker: bool
    log_filter: SecretMaskFilter
    filtered_handlers: list[logging.Handler] = dataclasses.field(default_factory=list)
    quieted_loggers: list[logging.Logger] = dataclasses.field(default_factory=list)


STATE_KEY = pytest.StashKey[NestedState]()


def get_state(config: pytest.Config) -> NestedState | None:
    """The plugin's state, or None when no --nested-host was given."""
    return config.stash.get(STATE_KEY, None)


# options -------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nested", "Hyper-V nested virtualization (pytest-nestedhv)")
    group.addoption("--nested-host", action="append", default=None, metavar="URL",
                    help="host to validate (repeatable): NAME, NAME:PORT, https://NAME:PORT, http://NAME:PORT, "
                         "local (this machine), sim, sim:SCENARIO or sim:PATH.toml; env NESTED_HOST (comma-separated)")
    group.addoption("--nested-user", default=None, metavar="USER",
                    help="account on the host (env NESTED_HOST_USER); password only from NESTED_HOST_PASSWORD")
    group.addoption("--nested-auth", default=None, choices=AUTHS, help="WinRM authentication (default negotiate)")
    group.addoption("--nested-cert-validation", default=None, metavar="true|false|PATH",
                    help="check the host's TLS certificate: true (default), false, or a CA bundle path")
    group.addoption("--nested-allow-unencrypted", action="store_true", default=False,
                    help="allow Basic authentication over plain HTTP")
    group.addoption("--nested-base-image", default=None, metavar="PATH",
                    help="VHDX on the host for the L1 guest OS (a sim scenario supplies its own)")
    group.addoption("--nested-guest-user", default=None, metavar="USER",
                    help="guest administrator (env NESTED_GUEST_USER); password only from NESTED_GUEST_PASSWORD")
    group.addoption("--nested-inner-image", default=None, metavar="PATH",
                    help="optional VHDX for the L2 OS; without it the L2 boots to firmware")
    group.addoption("--nested-switch", default=None, metavar="NAME",
                    help="the host's virtual switch for the L1 (default: its External switch, else 'Default Switch')")
    group.addoption("--nested-vm", default=None, metavar="NAME",
                    help="validate this existing VM instead of provisioning one (read-only)")
    group.addoption("--nested-remediate", action="store_true", default=False,
                    help="with --nested-vm: change the VM until it meets the requirements, printing every change")
    group.addoption("--nested-keep", default=None, choices=KEEP_CHOICES,
                    help="keep the VMs this run created: never (default), failed, always")
    group.addoption("--nested-report-dir", default=None, metavar="DIR", help="where reports go (default reports)")
    group.addoption("--nested-history", default=None, metavar="PATH",
                    help="the run history database, e.g. one kept outside a CI agent's work folder "
                         "(default REPORT_DIR/history.sqlite); env NESTED_HISTORY")
    group.addoption("--nested-slowdown-factor", default=None, metavar="X",
                    help="flag a lab step slower than X times the median of the previous five builds "
                         "(default 1.5); env NESTED_SLOWDOWN_FACTOR")
    group.addoption("--nested-host-reboot-timeout", default=None, metavar="SECONDS",
                    help="how long to wait for a host that stopped answering mid-run (a crash, a restart) to come "
                         "back (default 1800); env NESTED_HOST_REBOOT_TIMEOUT")

    parser.addini("nested_hosts", "hosts to validate, one per line (like --nested-host)", type="linelist", default=[])
    parser.addini("nested_auth", "WinRM authentication: negotiate, ntlm, kerberos, credssp, basic", type="string",
                  default="")
    parser.addini("nested_cert_validation", "true, false, or a CA bundle path", type="string", default="")
    parser.addini("nested_base_image", "VHDX on the host for the L1 guest OS", type="string", default="")
    parser.addini("nested_inner_image", "VHDX for the L2 OS", type="string", default="")
    parser.addini("nested_switch", "the host's virtual switch for the L1", type="string", default="")
    parser.addini("nested_keep", "never, failed or always", type="string", default="")
    parser.addini("nested_report_dir", "where reports go (default reports)", type="string", default="")
    parser.addini("nested_history", "the run history database (default REPORT_DIR/history.sqlite)", type="string",
                  default="")
    parser.addini("nested_slowdown_factor", "flag a lab step slower than this many times its usual duration "
                  "(default 1.5)", type="string", default="")
    parser.addini("nested_local_shell", "the command --nested-host=local starts (env NESTED_LOCAL_SHELL; default "
                                        "powershell.exe -NoLogo -NoProfile -NonInteractive -s)", type="string", default="")
    parser.addini("nested_host_reboot_timeout", "seconds to wait for a host that stopped answering (default 1800)",
                  type="string", default="")
    parser.addini("nested_progress_interval", "seconds of real time between progress lines of a long lab step "
                  "(default 30)", type="string", default="30")


# configuration -------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(id): the nested-virtualization requirement a test checks")
    config.addinivalue_line("markers", "nested_host(*labels): run this test only against these hosts "
                                       "('sim' matches every emulated host)")
    if config.option.help or config.option.version:
        return
    worker_input = getattr(config, "workerinput", None)
    run_id = worker_input.get(WORKER_RUN_ID) if worker_input else None
    settings = settings_from_config(config, run_id=run_id)
    if not settings.enabled:
        return
    from .hyperv.access import check_access
    from .hyperv.machines import HyperVHost
    from .remote.backends import BadTarget
    from .remote.hosts import HostPool

    mask = SecretMask(settings.secrets())
    hosts = HostPool(settings, mask, HyperVHost, on_open=check_access)
    try:
        hosts.prepare()
    except BadTarget as exc:
        raise pytest.UsageError(f"--nested-host {exc.args[1]}: {exc.args[0]}") from None
    state = NestedState(settings, mask, hosts, worker_input is not None, SecretMaskFilter(mask))
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(_RanTests(config), "nestedhv-ran-tests")
    config.add_cleanup(lambda: _shutdown(state))
    # reports (issue 4): collection on every test process, files on the controller only
    from .reporting.plugin import register as register_reports
    register_reports(config, mask, settings.report_dir, run_id=settings.run_id,
                     labels=tuple(t.label for t in settings.targets), history=settings.history,
                     slowdown_factor=settings.slowdown_factor, reproduce=_reproduce(settings))
    if worker_input is None:
        from .reporting.verdict import VerdictPlugin

        config.pluginmanager.register(VerdictPlugin(config, mask, [t.label for t in settings.targets]),
                                      "nestedhv-verdict")


def _reproduce(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per host, the command that runs the suite again (the bundle's feedback.md quotes it)."""
    from .config import reproduce_command

    out = {}
    for target in settings.targets:
        command, env = reproduce_command(settings, target)
        out[target.label] = {"command": command, "env": list(env)}
    return out


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Each host's tests on one worker (its lab is built once), whatever load mode was asked for."""
    state = get_state(config)
    if state is None or config.getvalue("dist") not in ("load", "loadgroup", "loadscope", "worksteal"):
        return None
    from .xdist_hosts import HostScheduling

    return HostScheduling(config, log, [t.label for t in state.settings.targets])


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: every worker uses the controller's run id."""
    state = get_state(node.config)
    if state is not None:
        node.workerinput[WORKER_RUN_ID] = state.settings.run_id


def _shutdown(state: NestedState) -> None:
    try:
        state.hosts.close()
    finally:
        for handler in state.filtered_handlers:
            handler.removeFilter(state.log_filter)
        state.filtered_handlers.clear()
        for logger in state.quieted_loggers:
            logger.setLevel(logging.NOTSET)
        state.quieted_loggers.clear()


def _install_log_filter(config: pytest.Config, state: NestedState) -> None:
    """Mask secrets in every record that reaches pytest's handlers or the root logger's."""
    handlers = list(logging.getLogger().handlers)
    logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
    for name in ("caplog_handler", "report_handler", "log_file_handler", "log_cli_handler"):
        handler = getattr(logging_plugin, name, None)
        if isinstance(handler, logging.Handler):
            handlers.append(handler)
    for handler in handlers:
        if state.log_filter not in handler.filters:
            handler.addFilter(state.log_filter)
            state.filtered_handlers.append(handler)


# pypsrp logs every pipeline at INFO: --log-cli-level=INFO would bury the lab's progress. Only a
# logger nobody configured is quieted, and only for this run.
_CHATTY_LOGGERS = ("pypsrp", "spnego")


def _quiet_libraries(state: NestedState) -> None:
    for name in _CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
            state.quieted_loggers.append(logger)


def _exit_connection_failed(config: pytest.Config, message: str) -> NoReturn:
    # why: pytest prints an Exit raised before the tests twice (stderr and a banner from the
    # terminal reporter); the banner is dropped so the failure reads as one line
    config.stash[_CONNECTION_EXIT] = True
    exit_run(config, message, EXIT_CONNECTION_FAILED)


def exit_run(config: pytest.Config, message: str, code: NestedExit) -> NoReturn:
    """End the run with one line; before any test ran, the last run's reports stay as they are."""
    if not config.stash.get(_TESTS_STARTED, False):
        discard_reports(config)
    pytest.exit(message, returncode=int(code))


_CONNECTION_EXIT = pytest.StashKey[bool]()
_TESTS_STARTED = pytest.StashKey[bool]()  # a test report arrived (here, or from an xdist worker)
_NO_HOST = pytest.StashKey[bool]()  # a test needed a host and none was named


def discard_reports(config: pytest.Config) -> None:
    """A run that executes no test keeps the last run's report.html, junit.xml and history:
    the writers this plugin set up are unregistered before they write."""
    state = get_state(config)
    if state is None or state.is_worker:
        return
    from .reporting.plugin import JUNIT_XML, PLUGIN_NAME, REPORT_HTML

    root = state.settings.report_dir
    manager = config.pluginmanager
    reporting = manager.get_plugin(PLUGIN_NAME)
    if reporting is not None:
        manager.unregister(reporting)
    if str(getattr(config.option, "htmlpath", None)) == str(root / REPORT_HTML):
        try:
            from pytest_html.basereport import BaseReport
        except ImportError:
            BaseReport = None  # noqa: N806
        for plugin in manager.get_plugins():
            if BaseReport is not None and isinstance(plugin, BaseReport):
                manager.unregister(plugin)
    from _pytest.junitxml import xml_key

    xml = config.stash.get(xml_key, None)
    if xml is not None and str(getattr(config.option, "xmlpath", None)) == str(root / JUNIT_XML):
        del config.stash[xml_key]  # why: junitxml's unconfigure unregisters what the stash holds
        manager.unregister(xml)


@dataclasses.dataclass(eq=False)  # a plugin object must stay hashable
class _RanTests:
    """Notices that a test ran, here or (under xdist) on a worker reporting to the controller."""

    config: pytest.Config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.outcome != "passed":
            self.config.stash[_TESTS_STARTED] = True


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[object]:
    """A run that executed no test (--collect-only, collection errors, all deselected) leaves
    the previous reports as they are. Decided here, not in sessionfinish: pluggy fixes a hook's
    callers when the call starts, so a writer unregistered during sessionfinish would still write."""
    try:
        return (yield)
    finally:
        if not session.config.stash.get(_TESTS_STARTED, False):
            discard_reports(session.config)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    # tests that erred because no host was named make a bad-input run, not a failed one
    if session.config.stash.get(_NO_HOST, False) and session.exitstatus == pytest.ExitCode.TESTS_FAILED:
        session.exitstatus = NestedExit.BAD_INPUT
    # a host that went away mid-run and did not come back: CI tells that from a failed requirement
    if session.config.stash.get(_HOST_LOST, False):
        session.exitstatus = NestedExit.HOST_LOST


_HOST_LOST = pytest.StashKey[bool]()


def stop_for_lost_host(session: pytest.Session, message: str) -> None:
    """The host is gone for good: no further tests; the run ends with NestedExit.HOST_LOST."""
    session.config.stash[_HOST_LOST] = True
    session.shouldstop = message


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_CONNECTION_EXIT, False):
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "_keyboardinterrupt_memo"):
            reporter._keyboardinterrupt_memo = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = get_state(session.config)
    if state is None:
        return
    _install_log_filter(session.config, state)
    _quiet_libraries(state)
    if session.config.option.collectonly or state.is_worker:
        return  # workers open their hosts on first use; the controller checked them already
    for target in state.settings.targets:
        if _xdist_controller(session.config) and target.is_sim:
            continue  # an emulator lives in the worker that runs its tests
        try:
            state.hosts.get(target.label)
        except ConnectionFailed as exc:
            state.hosts.close()
            _exit_connection_failed(session.config, state.mask.mask(str(exc)))
    if _xdist_controller(session.config):
        state.hosts.close()  # the check is done; each worker opens its own session


def _xdist_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = get_state(config)
    if state is None:
        return None
    from .remote.hosts import describe_info

    opened = {h.label: h for h in state.hosts.opened()}
    lines = [f"nestedhv: run {state.settings.run_id}, "
             f"{'validating VM ' + state.settings.vm if state.settings.vm else 'provisioning'}"]
    for target in state.settings.targets:
        host = opened.get(target.label)
        extra = describe_info(host.info) if host else ""
        lines.append(f"  {target.label}: {target.describe()}" + (f", {extra}" if extra else ""))
    return [state.mask.mask(line) for line in lines]


# the verdict -----------------------------------------------------------------------------------
_NOTES_SENT = pytest.StashKey[str]()


def _finding(item: pytest.Item) -> dict[str, Any]:
    """The Finding the ``requirement`` fixture handed over for this test (empty: none)."""
    from .handover import TEST_KEY

    evidence = item.stash.get(TEST_KEY, None)
    return dict(evidence.finding or {}) if evidence is not None else {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A host that stops answering under a test, outside a lab step (which waits on its own): wait
    for it (--nested-host-reboot-timeout, with progress) and fail the test with what the host's log
    says happened; the labs on that host learn of it (hyperv/lab/chain.py). A host that stays away
    raises HostGone, which stops the run (pytest_runtest_makereport)."""
    try:
        return (yield)
    except HostUnreachable as lost:
        host = getattr(item, "funcargs", {}).get("nested_host")
        if host is None or get_state(item.config) is None:
            raise
        from .host_watch import host_watch
        from .hyperv.requirements import HOST_CRASH_REMEDY

        crash = host_watch(item.config, host)(f"test {item.name}", lost)
    pytest.fail(f"{crash.message()}; fix: {HOST_CRASH_REMEDY}", pytrace=False)  # not chained to the lost connection


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """Each phase's report stays on the item (a fixture's finalizer asks whether its test failed);
    a host that went away for good (the local PowerShell died, or the host stayed away past its
    reboot timeout) reads as one line and stops the run
    (teardown still runs, its calls start a new session where they can, the reports are written);
    and every test process puts on its reports what the verdict needs (xdist carries it over)."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS_KEY, {})[call.when] = report
    state = get_state(item.config)
    if state is None:
        return report
    if call.excinfo is not None and call.excinfo.errisinstance((HostLost, HostGone)):
        message = state.mask.mask(str(call.excinfo.value))
        report.longrepr = message
        stop_for_lost_host(item.session, message)
    from .reporting.verdict import CHECK_ATTR, NOTES_ATTR, NOTES_KEY, check_of

    check = check_of(item, report, _finding(item), state.mask)
    if check is not None:
        setattr(report, CHECK_ATTR, check)
    if report.when == "teardown":
        notes = {k: dataclasses.asdict(v) for k, v in item.config.stash.get(NOTES_KEY, {}).items()}
        digest = repr(sorted(notes.items()))
        if notes and item.config.stash.get(_NOTES_SENT, "") != digest:
            item.config.stash[_NOTES_SENT] = digest
            setattr(report, NOTES_ATTR, notes)
    return report


# parametrization -----------------------------------------------------------------------------
def _wanted(item_labels: tuple[str, ...], label: str, is_sim: bool) -> bool:
    return not item_labels or label in item_labels or (is_sim and "sim" in item_labels)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "nested_host" not in metafunc.fixturenames:
        return
    state = get_state(metafunc.config)
    if state is None:
        return  # the fixture skips: no --nested-host
    labels = tuple(a for m in metafunc.definition.iter_markers("nested_host") for a in m.args)
    targets = [t for t in state.settings.targets if _wanted(labels, t.label, t.is_sim)]
    # the requirement id joins the host in the test id: -v and --collect-only show it, -k selects it
    rid = requirement_id(metafunc.definition)
    metafunc.parametrize("nested_host", [t.label for t in targets],
                         ids=[f"{t.label}-{rid}" if rid else t.label for t in targets],
                         indirect=True, scope="session")


def requirement_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("requirement")
    return str(marker.args[0]) if marker is not None and marker.args else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # -k host.bcd selects by requirement id also where the id is not in the test id
    for item in items:
        rid = requirement_id(item)
        if rid:
            item.extra_keyword_matches.add(rid)


@pytest.fixture(scope="session")
def nested_host(request: pytest.FixtureRequest) -> Iterator[HyperVHost]:
    """One host under test (parametrized per --nested-host): ``nested_host.run(cmdlet, **params)``,
    ``nested_host.vm(name)`` (a ``VM`` handle), ``nested_host.facts``, ``nested_host.restart()``
    (returns once the host answers again; ``nested_l1`` boots its L1 again afterwards).

    ``run`` returns a list of objects whose properties read as ``obj.Name`` or ``obj["Name"]``;
    a failing command raises ``pytest_nestedhv.RemoteCommandError``. ``facts`` are the host's
    facts (build, CPU, memory, supported VM versions), read once. Errors without --nested-host."""
    state = get_state(request.config)
    label = getattr(request, "param", None)
    if state is None or label is None:
        _no_host(request.config)
    try:
        host = cast("HyperVHost", state.hosts.get(label))  # the pool makes HyperVHosts (pytest_configure)
    except ConnectionFailed as exc:
        _exit_connection_failed(request.config, state.mask.mask(str(exc)))
    evidence = host_evidence(request.config, label)  # for the reports
    evidence.description = host.target.describe()
    evidence.spec = str(host.target.spec or "")
    evidence.transcript = host.session.transcript
    evidence.guest_user = str(host.guest_credential.user) if host.guest_credential else None
    yield host


@pytest.fixture(scope="session")
def nested_settings(request: pytest.FixtureRequest) -> Settings:
    """The run's Settings (errors without --nested-host)."""
    state = get_state(request.config)
    if state is None:
        _no_host(request.config)
    return state.settings


def _no_host(config: pytest.Config) -> NoReturn:
    """A test that needs a host errors, so a run with no host is never green."""
    config.stash[_NO_HOST] = True  # set once: pytest reuses a session fixture's error for later tests
    pytest.fail(NO_HOST, pytrace=False)


@pytest.fixture(scope="session")
def nested_secret_mask(request: pytest.FixtureRequest) -> SecretMask:
    state = get_state(request.config)
    return state.mask if state is not None else SecretMask()


@pytest.fixture(autouse=True)
def _nested_test_evidence(request: pytest.FixtureRequest) -> Iterator[None]:
    """Hands every test that runs against a host to the reports (item.stash) and, when it failed,
    the host's and the L1's Hyper-V events since it (or the lab step that failed) began."""
    if "nested_host" not in request.fixturenames:
        yield
        return
    host = request.getfixturevalue("nested_host")
    record = TestEvidence(host.label, time.time())
    request.node.stash[TEST_KEY] = record
    yield
    evidence = host_evidence(request.config, host.label)
    evidence.facts = evidence.facts or host.host_facts  # read by the test itself (nested_host.facts)
    if item_failed(request.node):
        record.events += _failure_events(request, host, record)


def _failure_events(request: pytest.FixtureRequest, host: HyperVHost, record: TestEvidence) -> list[Any]:
    from .reporting import events

    state = get_state(request.config)
    evidence = host_evidence(request.config, host.label)
    since = datetime.datetime.fromtimestamp(record.started, datetime.timezone.utc)
    for phase in evidence.timeline:  # a lab step that failed earlier explains this failure
        if not phase.ok:
            began = phase.started if phase.started.tzinfo else phase.started.replace(tzinfo=datetime.timezone.utc)
            since = min(since, began)
    guest_vm = evidence.events_guest if host.guest_credential is not None else None
    return events.collect(host.session, since, state.mask if state else SecretMask(), request.node.nodeid,
                          guest_vm=guest_vm, guest_cred=host.guest_credential)
