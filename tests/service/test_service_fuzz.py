"""Hostile input from the API's own OpenAPI schema (Schemathesis strategies driven by Hypothesis, a bounded,
derandomized number of examples per operation, SQLite and PostgreSQL): whatever the parameters, bodies and
paths, no answer is a 5xx, and every error is problem JSON."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from servicekit import Api

EXAMPLES = 12


def test_no_server_errors(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    checked: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def no_5xx(case: schemathesis.Case) -> None:
            response = case.call(headers={**(case.headers or {}), **api.auth("admin")})
            assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
            if response.status_code >= 400:
                assert response.headers["content-type"] == ["application/problem+json"]  # Schemathesis: a list

        no_5xx()
        checked.append(operation.label)
    assert "POST /v1/jobs" in checked and "GET /v1/videos/{video_id}/segments" in checked
