"""Hostile input against the search endpoints over a populated collection (the shared fuzz test sees an empty
database): Schemathesis cases from the OpenAPI schema of ``/v1/search`` and ``/v1/search/sequence``, a bounded,
derandomized number, on SQLite and PostgreSQL. No answer is a 5xx; every error is problem JSON; every 200 names
the model of each hit."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from servicekit import Api
from test_service_search import MODELS, build

EXAMPLES = 25


def test_search_never_answers_5xx(api: Api) -> None:
    build(api)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    searches = ("/v1/search", "/v1/search/sequence")  # similar moments: tests/service/test_service_similar.py
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path in searches]
    assert sorted(op.label for op in operations) == ["GET /v1/search", "GET /v1/search/sequence"]
    answered: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def no_5xx(case: schemathesis.Case) -> None:
            response = case.call(headers={**(case.headers or {}), **api.auth("read")})
            assert response.status_code < 500, (case.formatted_path, case.query, response.text[:300])
            answered[response.status_code] = answered.get(response.status_code, 0) + 1
            if response.status_code >= 400:
                assert response.headers["content-type"] == ["application/problem+json"]
            else:
                for hit in response.json()["hits"]:
                    segment = hit.get("best_segment") or hit.get("first") or hit
                    assert segment["model_version"] == MODELS["localizer"]

        no_5xx()
    assert set(answered) <= {200, 400, 422} and answered.get(200, 0) > 0
