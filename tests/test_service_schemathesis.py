"""``deployer serve`` against its own OpenAPI document, with schemathesis (a bounded number of examples)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from deployer.runs.service import openapi_document

from test_service import SPEC, start_server, stop_server

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    s = start_server(SPEC, tmp_path_factory.mktemp("schemathesis"))
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def api_schema(live):
    # A schema-valid POST /runs may still name a node or action the tree lacks: 422
    # is the documented answer there (the schema cannot list every tree's names).
    # The token goes through schemathesis's auth, so its "no token" mutations really drop it.
    config = schemathesis.config.SchemathesisConfig.from_dict({
        "auth": {"openapi": {"bearer": {"bearer": live.token}}},
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "404", "422"]}}})
    return schemathesis.openapi.from_dict(openapi_document(), config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case, live):
    case.call_and_validate(base_url=live.base)
