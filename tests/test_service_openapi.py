"""Fuzz the app against its own /openapi.json with schemathesis: no 5xx, every response as documented."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 60


@pytest.fixture
def fuzz_app(app, client, admin_headers):
    """The app, one real couple with a date, and the admin token."""
    body = client.post("/v1/couples").get_json()
    idea = client.get("/v1/ideas").get_json()["ideas"][0]["id"]
    auth = {"Authorization": f"Bearer {body['token']}"}
    client.post(f"/v1/couples/{body['id']}/dates", headers=auth, json={"idea_id": idea, "ratings": {"a": 4}})
    app.extensions["dateideas.training"].start = lambda store, reason: 4242  # no real training processes
    return app, body["id"], auth, admin_headers


@pytest.mark.slow
def test_openapi_fuzz_no_5xx_and_responses_match(fuzz_app):
    app, couple_id, couple_auth, admin_auth = fuzz_app
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 20
    calls = []

    for operation in operations:
        needs_couple = "{couple_id}" in operation.path
        is_admin = operation.path.startswith("/v1/admin")
        has_input = bool(len(operation.query) or len(operation.path_parameters) or len(operation.headers)
                         or len(operation.body))
        # schema-valid requests, and (where there is input to break) schema-violating ones
        strategy = operation.as_strategy()
        if has_input:
            strategy = st.one_of(strategy, operation.as_strategy(GenerationMode.NEGATIVE))

        # run() reads this iteration's operation and flags and is called in it (B023's worry does not apply)
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy, real_couple=st.booleans(), with_auth=st.booleans())
        def run(case, real_couple, with_auth):
            headers = {}
            if needs_couple and real_couple:  # noqa: B023
                case.path_parameters = dict(case.path_parameters or {}, couple_id=couple_id)
            if with_auth:
                headers = admin_auth if is_admin else couple_auth  # noqa: B023
            if operation.label == "DELETE /v1/couples/{couple_id}" and real_couple and with_auth:  # noqa: B023
                return  # keep the couple for the other operations
            case.call_and_validate(headers=headers, checks=CHECKS)
            calls.append((operation.label, case.path_parameters))  # noqa: B023

        run()
    assert len(calls) >= 500
    assert {label for label, _ in calls} >= {op.label for op in operations} - {"DELETE /v1/couples/{couple_id}"}
