"""Property-based fuzzing of the service's OpenAPI schema (schemathesis strategies driven by
Hypothesis): valid and invalid requests for every operation, never a 5xx and never a crash."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from servers import stop
from test_app import TABULAR_MODEL, TEXT_MODEL, serve, store  # noqa: F401 - the store fixture

pytestmark = pytest.mark.e2e  # a real server, pipeline or browser: `make test-e2e`


@pytest.fixture(scope="module", params=[TABULAR_MODEL, TEXT_MODEL])
def fuzzed(request, store):  # noqa: F811
    process, url = serve(
        store,
        f"models:/{request.param}@champion",
        "--poll-seconds",
        "0",
        "--explain-samples",
        "50",
    )
    yield schemathesis.openapi.from_url(f"{url}/openapi.json"), process
    stop(process)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_a_server_error(fuzzed, mode):
    schema, process = fuzzed
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/predict", "/explain", "/version", "/ready"}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not len(operation.body):
            continue  # a GET without parameters has no invalid form

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case):
            response = case.call(timeout=30)
            assert response.status_code < 500, (case.path, case.body, response.text)

        no_server_error()
    assert process.poll() is None  # the service is still up
