"""Every recorded request, converted for every backend, is a request that backend's official
SDK types describe: no unknown field, every required field, the right path and headers."""

from __future__ import annotations

import pytest

from tests.contract import known
from tests.contract.cases import Refused, RequestCase, request_cases, upstream_request
from tests.contract.sdk_types import request_violations

CASES = request_cases()


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=known.marks(c.id, known.REQUESTS)) for c in CASES],
)
def test_upstream_request_matches_the_backend_sdk(case: RequestCase) -> None:
    try:
        up = upstream_request(case)
    except Refused as exc:
        pytest.skip(str(exc))
    violations = request_violations(
        case.backend,
        path=up.path,
        body=up.body,
        stream=up.stream,
        headers=up.headers,
        query=up.query,
        dialect=case.dialect,
    )
    known.assert_conforms(case.id, violations, known.REQUESTS)
