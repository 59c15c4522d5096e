"""Every recorded upstream answer, converted for every app protocol (whole, streamed, and a
whole upstream answer streamed to a streaming app), is one the app's official SDK parses
strictly: every stream event, no unknown field, every required field. Recorded error answers
become error bodies the app's SDK types describe (where it has a type for them)."""

from __future__ import annotations

import pytest

from tests.contract import known
from tests.contract.cases import AnswerCase, Refused, answer_cases, app_answer
from tests.contract.sdk_types import answer_violations

CASES = answer_cases()


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=known.marks(c.id, known.ANSWERS)) for c in CASES],
)
def test_app_answer_matches_the_client_sdk(case: AnswerCase) -> None:
    try:
        body = app_answer(case)
    except Refused as exc:
        pytest.skip(str(exc))
    violations = answer_violations(
        case.client,
        body,
        stream=case.stream,
        dialect=case.dialect,
        variant=case.variant,
        error=case.mode == "error",
    )
    known.assert_conforms(case.id, violations, known.ANSWERS)
