"""The live stock page reads positions straight from a running stream worker.

The test has a broker of its own (`stack`): its worker's consumer group and offsets stay there."""

import pytest

from stockflow.masking import Role
from tests.integration.test_dashboards import header, signed_in
from tests.integration.test_pipeline import simulated, wait_processed
from tests.support import get_json, produce_with_confluent

pytestmark = pytest.mark.integration


def test_live_stock_shows_the_worker_s_positions_and_filters_them(stack, monkeypatch):
    worker = stack.worker()
    messages = simulated(stack, days=1)
    produce_with_confluent(stack.broker.bootstrap, messages)
    wait_processed(stack, worker, messages)
    monkeypatch.setenv("STOCKFLOW_VAR_DIR", str(stack.settings.var_dir))
    monkeypatch.setenv("STOCKFLOW_WEB_PORT", worker.url.rsplit(":", 1)[1])

    at = signed_in(Role.WAREHOUSE)
    at.switch_page("pages/live_stock.py").run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    location = at.multiselect(key="stock_locations").value[0]
    served = get_json(f"{worker.url}/stock/{location}")["items"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["On hand"] == f"{sum(i['on_hand'] for i in served):,}" != "0"
    assert metrics["Available"] == f"{sum(i['available'] for i in served):,}"
    positions = at.dataframe[0].value
    assert len(positions) == sum(len(i["batches"]) for i in served)

    # a SKU filter narrows the table and the totals to that SKU's batches
    sku = served[0]["sku"]
    at.text_input(key="stock_sku").input(sku.lower()).run()
    narrowed = at.dataframe[0].value
    assert set(narrowed[header("sku")]) == {sku} and len(narrowed) == len(served[0]["batches"])
    assert {m.label: m.value for m in at.metric}["On hand"] == f"{served[0]['on_hand']:,}"
