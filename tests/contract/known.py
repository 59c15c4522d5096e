"""Contract violations crosswire's codecs are known to have today, awaiting a codec fix.

A case whose id matches an entry's ``cases`` is marked ``xfail(strict=True)``: it must fail,
and only with violations matching the entry's ``violation``. Any other violation fails the
test outright; a case that no longer violates anything XPASSes, which fails the run too — then
delete (or narrow) the entry. Each reason names the wire field and why the SDK refuses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

import pytest


@dataclass(frozen=True)
class Known:
    cases: tuple[str, ...]  # fnmatch patterns over case ids
    violation: str  # regex over one violation line
    reason: str

    def covers(self, case_id: str) -> bool:
        return any(fnmatchcase(case_id, p) for p in self.cases)


class KnownViolations(AssertionError):
    """Raised when every violation of a case is a known one (the expected failure)."""


ANSWERS: tuple[Known, ...] = (
    Known(
        cases=("openai_responses/stream_web_search_server_tool->openai-responses-stream",),
        violation=r"\.action\.sources\[\d+\]\.(name: unknown|type: 'api'|url: required)",
        reason=(
            "recorded web_search_call item carried verbatim: its source {type: 'api', name} "
            "predates openai 3.54, whose ActionSearchSource is {type: 'url', url} only"
        ),
    ),
)

#: No known request violation today.
REQUESTS: tuple[Known, ...] = ()


def marks(case_id: str, table: tuple[Known, ...]) -> list[pytest.MarkDecorator]:
    found = [k for k in table if k.covers(case_id)]
    if not found:
        return []
    reason = " | ".join(k.reason for k in found)
    return [pytest.mark.xfail(strict=True, raises=KnownViolations, reason=reason)]


def assert_conforms(case_id: str, violations: list[str], table: tuple[Known, ...]) -> None:
    """Pass when there is no violation; raise KnownViolations when all are known for this
    case; AssertionError (a real failure) otherwise."""
    if not violations:
        return
    known = [k for k in table if k.covers(case_id)]
    unknown = [v for v in violations if not any(re.search(k.violation, v) for k in known)]
    shown = "\n  ".join((unknown or violations)[:20])
    more = len(unknown or violations) - 20
    text = f"{len(violations)} contract violation(s):\n  {shown}" + (
        f"\n  … {more} more" if more > 0 else ""
    )
    if unknown:
        raise AssertionError(text)
    raise KnownViolations(text)
