"""examples/ci: the nightly pipelines parse, run on schedule, publish JUnit, keep the reports, import
history, keep secrets in env vars, and use only options that exist."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "ci"
GITHUB = CI / "github-actions-nightly.yml"
AZURE = CI / "azure-pipelines-nightly.yml"


def steps_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in (doc["jobs"].values() if isinstance(doc["jobs"], dict) else doc["jobs"])
            for step in job["steps"]]


def scripts(steps: list[dict[str, Any]]) -> str:
    return "\n".join(str(s.get("run") or s.get("pwsh") or "") for s in steps)


def check_commands(text: str, config: pytest.Config) -> None:
    for option in set(re.findall(r"--nested-[a-z-]+", text)):
        config.getoption(option[2:].replace("-", "_"))  # ValueError: no such option
    assert "python -m pytest_nestedhv.history import --db" in text
    assert "python -m pytest_nestedhv.history --db" in text and "--json" in text
    assert "--nested-history" in text and "--pyargs pytest_nestedhv.suites" in text
    assert "PASSWORD" not in " ".join(line for line in text.splitlines() if "pytest" in line)  # env only


def test_github_actions_nightly(pytestconfig: pytest.Config) -> None:
    doc = yaml.safe_load(GITHUB.read_text())
    on = doc[True]  # YAML 1.1 reads the key "on" as true
    assert on["schedule"][0]["cron"].count(" ") == 4
    (job,) = doc["jobs"].values()
    assert "self-hosted" in job["runs-on"] and "windows" in job["runs-on"]
    assert job["env"]["NESTED_HOST_PASSWORD"] == "${{ secrets.NESTED_HOST_PASSWORD }}"
    steps = steps_of(doc)
    uses = {s.get("uses", "").split("@")[0]: s for s in steps}
    assert uses["mikepenz/action-junit-report"]["with"]["report_paths"] == "reports/junit.xml"
    artifact = uses["actions/upload-artifact"]
    assert artifact["with"]["path"] == "reports/" and artifact["if"] == "always()"
    assert "actions/cache/restore" in uses and "actions/cache/save" in uses
    text = scripts(steps)
    check_commands(text, pytestconfig)
    # the import finds earlier nights by the artifact name this pipeline gives them
    assert '"nested-reports-$id"' in text and artifact["with"]["name"] == "nested-reports-${{ github.run_id }}"
    assert "README: Exit codes" in GITHUB.read_text()


def test_azure_pipelines_nightly(pytestconfig: pytest.Config) -> None:
    doc = yaml.safe_load(AZURE.read_text())
    assert doc["schedules"][0]["cron"].count(" ") == 4 and doc["schedules"][0]["always"] is True
    steps = steps_of(doc)
    tasks = {s.get("task", "").split("@")[0]: s for s in steps}
    assert tasks["PublishTestResults"]["inputs"]["testResultsFormat"] == "JUnit"
    assert tasks["PublishTestResults"]["inputs"]["testResultsFiles"].endswith("/reports/junit.xml")
    assert tasks["PublishTestResults"]["condition"] == "always()"
    assert tasks["PublishPipelineArtifact"]["inputs"]["artifact"] == "nested-reports-$(Build.BuildId)"
    assert "history.sqlite" in tasks["DownloadPipelineArtifact"]["inputs"]["itemPattern"]
    suite = next(s for s in steps if "pytest_nestedhv.suites" in str(s.get("pwsh")))
    assert suite["env"]["NESTED_HOST_PASSWORD"] == "$(NESTED_HOST_PASSWORD)"  # secrets are mapped, not inlined
    check_commands(scripts(steps), pytestconfig)
    assert "README: Exit codes" in AZURE.read_text()


def test_the_readme_links_both_pipelines() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in (GITHUB, AZURE, CI / "README.md"):
        assert f"]({path.relative_to(ROOT).as_posix()})" in readme
