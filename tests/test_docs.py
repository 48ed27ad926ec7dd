"""docs/requirements.md is the rules' home: a complete section per catalog id, and the code cites it.

Anchors follow GitHub's rule for headings (lower case, punctuation other than '-' and '_'
dropped, spaces to '-'), so `### host.bcd` is `#hostbcd`.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_nestedhv.hyperv.requirements import IDS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "requirements.md"
PARTS = ("**Rule.**", "**How it is read.**", "**Remedy.**", "**Sources.**")
SOURCE_TREES = ("pytest_nestedhv", "suites", "tests")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".ps1", ".json", ".txt", ".cfg", ".ini"}
RETIRED = "nested-facts"  # the reference page outside the repository that the code used to cite
CITATION = re.compile(r"docs/requirements\.md#([A-Za-z0-9_-]+)")
SUITE_MARKER = re.compile(r"""@pytest\.mark\.requirement\(["']([^"']+)["']\)""")


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading text."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def sections(text: str) -> dict[str, str]:
    """Heading text -> body, for every heading level."""
    found: dict[str, str] = {}
    parts = re.split(r"^#{1,6} +(.+?) *$", text, flags=re.M)
    for title, body in zip(parts[1::2], parts[2::2]):
        found[title] = body
    return found


def repo_text_files() -> list[Path]:
    files = [ROOT / "README.md", DOC]
    for tree in SOURCE_TREES:
        files += [p for p in (ROOT / tree).rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
                  and "__pycache__" not in p.parts]
    return files


@pytest.fixture(scope="module")
def doc() -> dict[str, str]:
    assert DOC.is_file(), f"{DOC} is missing"
    return sections(DOC.read_text("utf-8"))


def test_anchor_follows_github() -> None:
    assert anchor("host.bcd") == "hostbcd"
    assert anchor("vm.toggle-while-running") == "vmtoggle-while-running"
    assert anchor("What users trip over") == "what-users-trip-over"


def test_the_suite_tests_exactly_the_catalog() -> None:
    # the ids this page must cover are the catalog's, and the suite runs each of them once
    marked = [m for p in sorted((ROOT / "suites").glob("test_*.py")) for m in SUITE_MARKER.findall(p.read_text("utf-8"))]
    assert sorted(marked) == sorted(IDS)


@pytest.mark.parametrize("rid", IDS)
def test_every_requirement_has_a_complete_section(doc: dict[str, str], rid: str) -> None:
    assert rid in doc, f"docs/requirements.md has no '### {rid}' section"
    body = doc[rid]
    missing = [p for p in PARTS if p not in body]
    assert not missing, f"section {rid} lacks {', '.join(missing)}"
    positions = [body.index(p) for p in PARTS]
    assert positions == sorted(positions), f"section {rid}: parts out of order (rule, how read, remedy, sources)"
    for part, start, end in zip(PARTS, positions, positions[1:] + [len(body)]):
        assert body[start + len(part):end].strip(), f"section {rid}: '{part}' is empty"
    sources = body[positions[-1]:]
    assert re.search(r"<https://[^>\s]+>|\]\(https://[^)\s]+\)", sources), f"section {rid}: Sources has no link"


def test_no_file_cites_the_retired_reference() -> None:
    this = Path(__file__).resolve()
    citing = [f"{p.relative_to(ROOT)}:{n}" for p in repo_text_files() if p.resolve() != this
              for n, line in enumerate(p.read_text("utf-8", errors="replace").splitlines(), 1) if RETIRED in line]
    assert not citing, f"cite docs/requirements.md instead of {RETIRED}: {', '.join(citing)}"


def test_every_cited_anchor_exists(doc: dict[str, str]) -> None:
    anchors = {anchor(title) for title in doc}
    cited = {(f"{p.relative_to(ROOT)}", a) for p in repo_text_files() if p != DOC
             for a in CITATION.findall(p.read_text("utf-8", errors="replace"))}
    cited |= {("docs/requirements.md", a) for a in re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", DOC.read_text("utf-8"))}
    dangling = sorted(f"{where} -> #{a}" for where, a in cited if a not in anchors)
    assert not dangling, "citations of docs/requirements.md name missing sections: " + "; ".join(dangling)
    assert len(cited) > 20  # the code does cite it


def test_readme_links_the_requirements() -> None:
    assert "docs/requirements.md" in (ROOT / "README.md").read_text("utf-8")


def test_the_source_distribution_carries_the_docs() -> None:
    # MANIFEST.in puts the cited page into the sdist (the wheel has no use for it)
    included = [line.split()[1] for line in (ROOT / "MANIFEST.in").read_text("utf-8").splitlines()
                if line.startswith("include ")]
    assert "docs/requirements.md" in included
    assert all((ROOT / path).is_file() for path in included), included
