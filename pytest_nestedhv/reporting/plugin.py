"""The reporting's pytest hooks. ``register(config, mask)`` is called from the plugin's
pytest_configure when the run has --nested-host.

On every process that runs tests (the only one, or each xdist worker) a makereport wrapper
puts what the test ran and judged on its report. On the controller only, reports are folded
into a RunRecord and, at the end, written under the report dir: pytest-html's report.html,
pytest's junit.xml (paths set here unless the user gave their own), a feedback bundle per
host, the history and history.html.
"""
from __future__ import annotations

import os
import sys
from html import escape
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ..remote.secrets import SecretMask
from . import history_store
from .aggregate import RunCollector
from .collect import PAYLOAD_ATTR, WorkerState, build_payload, finding_of, pending_crashes, set_junit_properties
from .history_view import DEFAULT_SLOWDOWN_FACTOR
from .html import environment, report_title, summary, test_extra
from .junit import host_properties, run_properties
from .verdict import count_by_host, count_ids_by_host
from .writer import HISTORY_DB, HISTORY_HTML, Written, write_reports

REPORT_HTML = "report.html"
JUNIT_XML = "junit.xml"
PLUGIN_NAME = "nestedhv-reporting"


class ReportDirError(pytest.UsageError):
    pass


def check_report_dir(path: Path) -> Path:
    """Create the report dir and prove it is writable; a one-line UsageError otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".nestedhv-write-test-{os.getpid()}"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ReportDirError(
            f"--nested-report-dir {path}: cannot write there ({reason}); give a writable directory"
        ) from None
    return path


def _configure_already_ran(config: pytest.Config, module: ModuleType | None,
                           caller: object | None = None) -> bool:
    """Whether ``module``'s pytest_configure was already called in this configure round.

    Hook implementations run from the end of the list to its start, so one placed after
    the nestedhv plugin's ran before it."""
    if module is None:
        return False
    impls = config.hook.pytest_configure.get_hookimpls()
    plugins = [impl.plugin for impl in impls]
    caller = caller if caller is not None else sys.modules.get("pytest_nestedhv.plugin")
    if module not in plugins:
        return False
    if caller not in plugins:
        return True  # called from elsewhere (a test, a conftest): configure is over
    return plugins.index(module) > plugins.index(caller)


def ensure_outputs(config: pytest.Config, root: Path, caller: object | None = None) -> bool:
    """report.html (self-contained) and junit.xml under the report dir unless the user chose paths.

    Returns whether junit.xml is ours (then its family may be set, see use_xunit1)."""
    option = config.option
    owns_junit = getattr(option, "xmlpath", "missing") is None
    if getattr(option, "htmlpath", "missing") is None:
        option.htmlpath = str(root / REPORT_HTML)
        option.self_contained_html = True
        html_plugin = sys.modules.get("pytest_html.plugin")
        if html_plugin is not None and _configure_already_ran(config, html_plugin, caller):
            html_plugin.pytest_configure(config)  # it saw no path the first time: let it set up now
    if getattr(option, "xmlpath", "missing") is None:
        option.xmlpath = str(root / JUNIT_XML)
        junit = sys.modules.get("_pytest.junitxml")
        if junit is not None and _configure_already_ran(config, junit, caller):
            junit.pytest_configure(config)
    return owns_junit


def use_xunit1(config: pytest.Config) -> None:
    """Per-test properties are an xunit1 feature: pytest warns about record_property under its
    default xunit2. Unless the user chose another family, the junit.xml we asked for uses xunit1
    (an explicit xunit2 cannot be told from the default, and it would drop the properties)."""
    if config.getini("junit_family") != "xunit2":
        return
    from _pytest.junitxml import xml_key  # why: the LogXML object is only reachable through its stash key

    xml = config.stash.get(xml_key, None)
    if xml is not None:
        xml.family = "xunit1"


class ReportingPlugin:
    def __init__(self, config: pytest.Config, mask: SecretMask, root: Path, *, run_id: str = "",
                 labels: tuple[str, ...] = (), controller: bool = True, history: Path | None = None,
                 slowdown_factor: float = DEFAULT_SLOWDOWN_FACTOR,
                 reproduce: dict[str, dict[str, Any]] | None = None) -> None:
        self.config = config
        self.mask = mask
        self.root = root
        self.history = history if history is not None else root / HISTORY_DB
        self.slowdown_factor = slowdown_factor
        self.labels = labels
        self.controller = controller
        self.state = WorkerState()
        self.collector = RunCollector(run_id, mask) if controller else None
        if self.collector is not None:
            self.collector.run.reproduce = dict(reproduce or {})
        self.html_report: Any = None
        self.written: Written | None = None
        self.error: str | None = None
        self.owns_junit = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.owns_junit:
            use_xunit1(self.config)

    # ---------------------------------------------------------------- every test process

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        if call.when == "teardown":
            set_junit_properties(item, finding_of(item, None, self.mask))
        report = yield
        try:
            setattr(report, PAYLOAD_ATTR, build_payload(item, call, report, self.state, self.mask))
        except Exception as err:  # noqa: BLE001 - a reporting problem must not change a test's result
            setattr(report, PAYLOAD_ATTR, {"v": 1, "error": self.mask.mask(f"reporting: {err}")})
        return report

    # ---------------------------------------------------------------- controller

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.collector is not None and session.items:
            self.collector.run.collected = count_by_host(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.collector is not None and not self.collector.run.collected:
            self.collector.run.collected = count_ids_by_host(ids, self.labels)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.collector is None:
            return
        self.collector.add(report)
        if report.when == "teardown":
            test = self.collector.run.tests.get(report.nodeid)
            if test is not None and (test.host or test.requirement):
                extra = {"name": "nestedhv", "format_type": "html", "extension": "html", "mime_type": "text/html",
                         "content": test_extra(test, self.collector.run.hosts.get(test.host or ""), self.mask)}
                report.extras = [*getattr(report, "extras", []), extra]  # type: ignore[attr-defined]

    # optionalhook: with -p no:html these hooks do not exist, and the run simply writes no HTML
    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, '<th class="sortable" data-column-type="requirement">Requirement</th>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        requirement = dict(getattr(report, "user_properties", ())).get("requirement", "")  # not on collect reports
        cells.insert(2, f'<td class="col-requirement">{escape(str(requirement))}</td>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        self.html_report = report
        report.title = report_title(self.labels)

    @pytest.hookimpl(tryfirst=True)  # before pytest's junitxml writes its file: the run's properties go in it
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.collector is None:
            return
        interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED) or bool(session.shouldstop)
        # a host that never came back ended the run inside a test: no report carried its record
        for label, crashes in pending_crashes(self.config, self.state, self.mask).items():
            self.collector.run.host(label).crashes += crashes
        run = self.collector.finish(int(exitstatus), interrupted)
        try:
            self.written = write_reports(run, self.root, self.mask, history=self.history, report=self._html_path(),
                                         slowdown_factor=self.slowdown_factor)
        except (OSError, history_store.HistoryError) as err:
            self.error = self.mask.mask(" ".join(str(err).split()))
        self._junit_properties(run)
        if self.html_report is not None:
            self.html_report.title = report_title(self.labels or tuple(run.hosts), run)
        self._environment(run)

    def _html_path(self) -> Path | None:
        path = getattr(self.config.option, "htmlpath", None)
        return Path(path).resolve() if path else None

    def _junit_properties(self, run: Any) -> None:
        """The run's id, date, report paths and step timings as testsuite properties of junit.xml."""
        from _pytest.junitxml import xml_key  # why: the LogXML object is only reachable through its stash key

        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        base = Path(xml.logfile).resolve().parent

        def rel(path: Path | None) -> str | None:
            if path is None:
                return None
            try:
                return Path(os.path.relpath(path.resolve(), base)).as_posix()
            except ValueError:  # another drive on Windows
                return str(path.resolve())

        html = self._html_path()
        props = run_properties(run.run_id, run.started, report=rel(html))
        bundles = {b.folder.name: b.zip_path for b in (self.written.bundles if self.written else ())}
        for host in run.hosts.values():
            props += host_properties(host, bundle=rel(bundles.get(host.safe_label)))
        for name, value in props:
            xml.add_global_property(name, self.mask.mask(value))

    def _environment(self, run: Any) -> None:
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:
            return
        metadata = self.config.stash.get(metadata_key, None)
        if isinstance(metadata, dict):
            metadata.update(environment(run))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str],
                                    session: pytest.Session) -> None:
        if self.collector is None:
            return
        newly = self.written.newly_failing if self.written else ()
        prefix.extend(_summary(self.collector.run, newly, self.mask))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.collector is None:
            return
        if self.error:
            terminalreporter.write_line(f"nestedhv reports: ERROR: {self.error}", red=True)
            return
        if self.written is None:
            return
        for item in self.written.newly_failing:
            terminalreporter.write_line(
                f"nestedhv: {item.key} on {item.host} newly failing since build {item.build}"
                f" (passed on {item.passed_on})", yellow=True)
        for bundle in self.written.bundles:
            terminalreporter.write_line(f"nestedhv feedback bundle: {bundle.zip_path}")
        if self.written.history_note:
            terminalreporter.write_line(f"nestedhv: {self.written.history_note}", yellow=True)
        terminalreporter.write_line(f"nestedhv history: {self.root / HISTORY_HTML} (database {self.history})")


def _summary(run: Any, newly: Any, mask: SecretMask) -> list[str]:
    return summary(run, newly, mask)


def check_history(path: Path) -> Path:
    """--nested-history: a history of ours (or nothing yet) in a folder that can be created."""
    try:
        history_store.check(path)
    except history_store.HistoryError as err:
        raise pytest.UsageError(f"--nested-history: {err}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise pytest.UsageError(f"--nested-history {path}: cannot create its folder ({err.strerror or err}); "
                                "give a path in a writable directory") from None
    return path


def register(config: pytest.Config, mask: SecretMask, report_dir: Path | str, *, run_id: str = "",
             labels: tuple[str, ...] = (), caller: object | None = None, history: Path | None = None,
             slowdown_factor: float = DEFAULT_SLOWDOWN_FACTOR,
             reproduce: dict[str, dict[str, Any]] | None = None) -> ReportingPlugin:
    """Set up the reports for this run. On an xdist worker only the collection side is active.

    ``caller`` is the plugin whose pytest_configure calls this (default: pytest_nestedhv.plugin);
    ``history`` the history database (default: REPORT_DIR/history.sqlite)."""
    existing = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    controller = not hasattr(config, "workerinput")
    root = Path(report_dir)
    if controller:
        check_report_dir(root)
        check_history(history if history is not None else root / HISTORY_DB)
        owns_junit = ensure_outputs(config, root, caller)
    plugin = ReportingPlugin(config, mask, root, run_id=run_id, labels=labels, controller=controller,
                             history=history, slowdown_factor=slowdown_factor, reproduce=reproduce)
    plugin.owns_junit = controller and owns_junit
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    return plugin
