"""`post_vouchers` on a real local Prefect server, over a lake the real spine wrote."""

from decimal import Decimal

import pyarrow.compute as pc
import pytest

from lake import read_table
from tests.integration.test_pipeline import simulated, wait_processed
from tests.support import produce_with_confluent

pytestmark = pytest.mark.integration


def test_flow_posts_the_spines_movements_once_and_the_books_balance(stack, prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.post_vouchers import open_books, post_vouchers

    worker = stack.worker()
    messages = simulated(stack, days=3, bad_ratio=0.02)
    produce_with_confluent(stack.broker.bootstrap, messages)
    wait_processed(stack, worker, messages)

    var = str(stack.settings.var_dir)
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.prefect_api_url}):
        first = post_vouchers(var_dir=var)
        again = post_vouchers(var_dir=var)
        with get_client(sync_client=True) as client:
            # the session's server holds other tests' runs too: this one's name its folder
            runs = [r for r in client.read_flow_runs() if r.parameters.get("var_dir") == var]
    assert sorted(r.state.type.value for r in runs) == ["COMPLETED", "COMPLETED"]
    assert {r.name for r in runs} and all(r.flow_id == runs[0].flow_id for r in runs)

    movements = read_table(stack.lake, "inventory_changed")
    stock_moves = pc.sum(
        pc.or_(
            pc.not_equal(movements["on_hand_delta"], 0),
            pc.equal(movements["event_type"], "transit_dispatched"),
        )
    ).as_py()
    assert first["movements"] == stock_moves > 5000
    assert first["vouchers"] > 1000
    assert (again["movements"], again["vouchers"]) == (0, 0)

    books = open_books(var)
    totals: dict[str, list[Decimal]] = {}
    for row in books.trial_balance():
        t = totals.setdefault(row.accounting_unit, [Decimal(0), Decimal(0)])
        t[0] += row.debit
        t[1] += row.credit
    assert set(totals) == {"DIST", "RETAIL"} and all(d == c for d, c in totals.values())
    assert books.store.unbalanced_vouchers() == []
    check = books.check_stock()
    assert check.equal and set(check.inventory) >= {"WH1", "ST01"}
    assert books.store.counts()["vouchers"] == first["vouchers"]
