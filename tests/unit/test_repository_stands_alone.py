"""The repository must stand on its own: nothing in it may send a reader to a document a clone
does not contain, and every numbered citation must land on a section that exists.

Code and tests cite the conversion edge cases as "edge 42" / "edge cases 38–40" (the numbers of
docs/edge-cases.md) and mitmproxy facts as "docs/mitmproxy.md §4". A renumbered or missing
section would silently turn those into dead references, so they are checked here, across every
tracked text file under addon/, tests/, bench/, docs/, config/ and README.md.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCOPE = ("addon", "tests", "bench", "docs", "config", "README.md")
EDGE_DOC = "docs/edge-cases.md"
MITM_DOC = "docs/mitmproxy.md"

#: Names of documents outside the repository. Spelled in pieces so this file does not match.
FOREIGN = tuple(
    "".join(parts)
    for parts in (
        ("../", "shared"),
        ("/work/", "shared"),
        ("MITMPROXY", "_NOTES"),
        ("EDGE", "_CASES"),
        ("DESIGN", ".md"),
    )
)

_NUMBERS = r"\d+(?:\s*(?:[,/+–-]|\band\b)\s*\d+)*"
#: "edge 42", "edges 10, 11", "edge case 7", "Edge cases 76–78", "EDGE 41 + 43", "edge 18/23".
EDGE_CITE = re.compile(rf"\bedges?(?:\s+cases?)?\s+({_NUMBERS})", re.IGNORECASE)
#: "docs/edge-cases.md §42" or "docs/edge-cases.md 42" (the number right after the path).
EDGE_DOC_CITE = re.compile(rf"docs/edge-cases\.md\s*§?\s*({_NUMBERS})")
#: "docs/mitmproxy.md §4", "docs/mitmproxy.md §4, §7".
MITM_CITE = re.compile(r"docs/mitmproxy\.md((?:\s*(?:,|\band\b|–|-)?\s*§\s*\d+)+)")
SECTION_SIGN = re.compile(r"§\s*(\d+)")


@cache
def tracked_files() -> tuple[Path, ...]:
    """Tracked text files in scope (every file under the scope when git is not available)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", *SCOPE],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        paths = [ROOT / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        paths = [ROOT / "README.md", *(p for s in SCOPE[:-1] for p in (ROOT / s).rglob("*"))]
    return tuple(sorted(p for p in paths if p.is_file() and _is_text(p)))


def _is_text(path: Path) -> bool:
    try:
        head = path.read_bytes()[:8192]
    except OSError:
        return False
    return b"\0" not in head


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def expand(numbers: str) -> list[int]:
    """ "29, 38–40" → [29, 38, 39, 40]; "18/23" and "41 + 43" are lists, not ranges."""
    out: list[int] = []
    for part in re.split(r"\s*(?:[,/+]|\band\b)\s*", numbers.strip()):
        bounds = [int(n) for n in re.split(r"\s*[–-]\s*", part) if n]
        if len(bounds) == 2 and bounds[0] <= bounds[1]:
            out.extend(range(bounds[0], bounds[1] + 1))
        else:
            out.extend(bounds)
    return out


@cache
def edge_numbers() -> tuple[int, ...]:
    text = _text(ROOT / EDGE_DOC)
    return tuple(int(n) for n in re.findall(r"^### (\d+)\. ", text, re.MULTILINE))


@cache
def mitmproxy_sections() -> tuple[int, ...]:
    text = _text(ROOT / MITM_DOC)
    return tuple(int(n) for n in re.findall(r"^## §(\d+)\. ", text, re.MULTILINE))


def test_scope_is_not_empty() -> None:
    names = {_rel(p) for p in tracked_files()}
    assert {EDGE_DOC, MITM_DOC, "README.md"} <= names
    assert any(n.startswith("addon/") for n in names)


def test_no_file_points_outside_the_repository() -> None:
    hits = [
        f"{_rel(path)}:{lineno}: {name}"
        for path in tracked_files()
        for lineno, line in enumerate(_text(path).splitlines(), 1)
        for name in FOREIGN
        if name in line
    ]
    assert not hits, "documents a clone does not have (write it into docs/):\n" + "\n".join(hits)


def test_edge_cases_are_numbered_once_without_gaps() -> None:
    numbers = edge_numbers()
    assert numbers, f"{EDGE_DOC} defines no '### N. title' sections"
    assert list(numbers) == list(range(1, len(numbers) + 1)), (
        "edge numbers are cited across the code: never renumber, append new cases at the end"
    )


def test_mitmproxy_sections_are_numbered_once_without_gaps() -> None:
    numbers = mitmproxy_sections()
    assert numbers, f"{MITM_DOC} defines no '## §N. title' sections"
    assert list(numbers) == list(range(1, len(numbers) + 1))


def _dangling(
    pattern: re.Pattern[str], defined: set[int], numbers_of: Callable[[str], list[int]]
) -> list[str]:
    found: list[str] = []
    for path in tracked_files():
        text = _text(path)
        for match in pattern.finditer(text):
            missing = [n for n in numbers_of(match.group(1)) if n not in defined]
            if missing:
                found.append(f"{_rel(path)}:{_line(text, match.start())}: {match.group(0)!r}")
    return found


def test_edge_citations_name_defined_cases() -> None:
    defined = set(edge_numbers())
    dangling = _dangling(EDGE_CITE, defined, expand) + _dangling(EDGE_DOC_CITE, defined, expand)
    assert not dangling, f"edge numbers {EDGE_DOC} does not define:\n" + "\n".join(dangling)


def test_mitmproxy_citations_name_defined_sections() -> None:
    defined = set(mitmproxy_sections())

    def sections(cited: str) -> list[int]:
        return [int(n) for n in SECTION_SIGN.findall(cited)]

    dangling = _dangling(MITM_CITE, defined, sections)
    # Inside the document itself a bare "§N" refers to its own sections.
    text = _text(ROOT / MITM_DOC)
    dangling += [
        f"{MITM_DOC}:{_line(text, m.start())}: {m.group(0)!r}"
        for m in SECTION_SIGN.finditer(text)
        if int(m.group(1)) not in defined
    ]
    assert not dangling, f"sections {MITM_DOC} does not define:\n" + "\n".join(dangling)


@pytest.mark.parametrize(
    ("cited", "numbers"),
    [
        ("edge 42", [42]),
        ("edges 10, 11", [10, 11]),
        ("Edge cases 38–40", [38, 39, 40]),
        ("edges 29, 38–40", [29, 38, 39, 40]),
        ("edge 18/23", [18, 23]),
        ("EDGE 41 + 43", [41, 43]),
        ("edges 1-3", [1, 2, 3]),
        ("(edge\n78)", [78]),
    ],
)
def test_citation_forms_are_all_read(cited: str, numbers: list[int]) -> None:
    match = EDGE_CITE.search(cited)
    assert match is not None
    assert expand(match.group(1)) == numbers


def test_a_dangling_citation_would_be_caught() -> None:
    beyond = max(edge_numbers()) + 1
    match = EDGE_CITE.search(f"see (edge {beyond}, {EDGE_DOC})")
    assert match is not None and beyond not in edge_numbers()
    cited = MITM_CITE.search(f"({MITM_DOC} §{max(mitmproxy_sections()) + 1})")
    assert cited is not None
