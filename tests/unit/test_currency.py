"""A receipt invoiced in another currency is booked in the books' currency at the rate valid on
its day; the invoiced currency and cost are kept on the movement, the lake row and the stock
ledger; the vouchers book the converted cost."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import duckdb
import pytest

from lake.landing import Landing
from lake.reader import read_table
from lake.tables import ORIGINAL_AMOUNT_COLUMNS, RECIPE_COLUMNS, STOCK_LEDGER, WORK_ORDER_COLUMNS, LakeTable
from stockflow.config import Settings
from stockflow.ledger import Ledger, PositionKey, StockRejected
from stockflow.masterdata import Catalog, ExchangeRate
from stockflow.processing import StockProcessor
from stockflow.valuation import Valuation
from stores.books import Books
from tests.unit.conftest import receipt

#: the company's default time zone setting (UTC+8 all year), which the day checks below assume
SHANGHAI = ZoneInfo(Settings.model_fields["timezone"].default)
MILK = PositionKey("WH1", "MILK-1L", "B1")


def add_rate(catalog: Catalog, currency: str, valid_from: date, rate: str) -> None:
    found = ExchangeRate(currency=currency, valid_from=valid_from, rate=Decimal(rate))
    catalog.rates[found.key] = found


@pytest.fixture
def rated(catalog: Catalog) -> Catalog:
    add_rate(catalog, "USD", date(2026, 2, 1), "7.10")
    add_rate(catalog, "USD", date(2026, 3, 1), "7.20")
    add_rate(catalog, "USD", date(2026, 3, 3), "7.30")
    return catalog


def usd(event_id="r-usd", when=datetime(2026, 3, 2, 8, 0, tzinfo=UTC), currency="USD", **kw):
    # 30.00 a case of 12: 2.50 an each
    return receipt(event_id=event_id, occurred_at=when, currency=currency, **kw)


def test_a_foreign_receipt_is_booked_at_the_rate_of_its_day(rated):
    (mv,) = Ledger(rated, SHANGHAI).apply(usd()).movements
    assert mv.unit_cost == Decimal("18.000000")  # 2.50 USD × 7.20 (valid from 1 March)
    assert (mv.currency, mv.original_unit_cost) == ("USD", Decimal("2.500000"))
    assert mv.on_hand_delta == 24


def test_the_receipts_day_is_the_companys_day(rated):
    late_evening = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)  # 3 March, 01:30 in Shanghai
    (in_shanghai,) = Ledger(rated, SHANGHAI).apply(usd(when=late_evening)).movements
    (in_utc,) = Ledger(rated, UTC).apply(usd(when=late_evening)).movements
    assert in_shanghai.unit_cost == Decimal("18.250000")  # 7.30 from 3 March
    assert in_utc.unit_cost == Decimal("18.000000")  # still 2 March: 7.20


def test_each_receipt_takes_the_rate_valid_on_its_own_day(rated):
    ledger = Ledger(rated, SHANGHAI)
    costs = []
    for i, day in enumerate([date(2026, 2, 15), date(2026, 3, 1), date(2026, 3, 9)]):
        when = datetime(day.year, day.month, day.day, 4, tzinfo=UTC)
        (mv,) = ledger.apply(usd(f"r{i}", when=when)).movements
        costs.append(mv.unit_cost)
    assert costs == [Decimal("17.750000"), Decimal("18.000000"), Decimal("18.250000")]


def test_a_receipt_in_the_books_currency_is_booked_as_invoiced_with_no_original(rated):
    (mv,) = Ledger(rated, SHANGHAI).apply(receipt()).movements
    assert (mv.unit_cost, mv.currency, mv.original_unit_cost) == (Decimal("2.500000"), None, None)
    hkd_books = rated.model_copy(update={"currency": "HKD"})
    (mv,) = Ledger(hkd_books, SHANGHAI).apply(usd(currency="HKD")).movements
    assert (mv.unit_cost, mv.currency) == (Decimal("2.500000"), None)


@pytest.mark.parametrize(
    ("currency", "when"),
    [("EUR", datetime(2026, 3, 2, 8, tzinfo=UTC)), ("USD", datetime(2026, 1, 20, 8, tzinfo=UTC))],
    ids=["no_rate_at_all", "before_the_first_rate"],
)
def test_a_receipt_without_a_rate_for_its_day_is_refused_and_stays_refused(rated, currency, when):
    ledger = Ledger(rated, SHANGHAI)
    with pytest.raises(StockRejected) as err:
        ledger.apply(usd(currency=currency, when=when))
    assert err.value.reason == "no_exchange_rate"
    assert ledger.position(MILK).on_hand == 0
    add_rate(rated, currency, date(2026, 1, 1), "7.9")
    assert ledger.apply(usd(currency=currency, when=when)).duplicate  # decided: a redelivery stays refused


def test_a_replay_books_the_quantities_even_without_a_rate_now(rated):
    ledger = Ledger(rated, SHANGHAI)
    (mv,) = ledger.apply(usd(currency="EUR"), admit=False).movements
    assert ledger.position(MILK).on_hand == 24
    assert (mv.unit_cost, mv.currency, mv.original_unit_cost) == (None, "EUR", Decimal("2.500000"))


def test_the_lake_row_keeps_the_invoiced_currency_and_cost(rated, tmp_path):
    landing = Landing(tmp_path, 4, lambda: StockProcessor(rated))
    landing.apply_all([usd(), receipt(event_id="r-cny", batch="B2")])
    rows = {r["event_id"]: r for r in read_table(tmp_path, "inventory_changed").to_pylist()}
    assert {k: rows["r-usd"][k] for k in ("unit_cost", "original_currency", "original_unit_cost")} == {
        "unit_cost": Decimal("18.000000"), "original_currency": "USD", "original_unit_cost": Decimal("2.500000"),
    }  # fmt: skip
    assert (rows["r-cny"]["original_currency"], rows["r-cny"]["original_unit_cost"]) == (None, None)


def test_valuation_and_vouchers_book_the_converted_cost(rated, tmp_path):
    landing = Landing(tmp_path / "lake", 4, lambda: StockProcessor(rated))
    landing.apply_all([usd()])
    books = Books(tmp_path, rated)
    assert books.post_new_movements().movements == 1
    with books.connect(read_only=True) as con:
        (row,) = con.execute(
            "SELECT unit_cost, value_change, original_currency, original_unit_cost FROM stock_ledger"
        ).fetchall()
        debit = con.execute("SELECT sum(debit) FROM voucher_lines").fetchone()[0]
    assert row == (Decimal("18.000000"), Decimal("432.00"), "USD", Decimal("2.500000"))
    assert debit == Decimal("432.00")  # 24 × 18.00, not 24 × 2.50
    exported = read_table(tmp_path / "lake", "inventory_changed")  # the lake's own row, unchanged
    assert exported.column("original_currency").to_pylist() == ["USD"]


def test_the_valued_movement_carries_the_original_amount(rated):
    (mv,) = Ledger(rated, SHANGHAI).apply(usd()).movements
    valued = Valuation(rated).value(mv)
    record = valued.as_record()
    assert (record["unit_cost"], record["original_currency"], record["original_unit_cost"]) == (
        Decimal("18.000000"), "USD", Decimal("2.500000"),
    )  # fmt: skip
    assert set(ORIGINAL_AMOUNT_COLUMNS) <= set(STOCK_LEDGER.column_names)


def test_books_kept_before_the_original_amount_gain_its_columns(rated, tmp_path):
    """Books kept before the original amounts (and before recipes) gain both sets of columns."""
    older = LakeTable(
        STOCK_LEDGER.name,
        tuple(
            c
            for c in STOCK_LEDGER.columns
            if c.name not in (*ORIGINAL_AMOUNT_COLUMNS, *RECIPE_COLUMNS, *WORK_ORDER_COLUMNS)
        ),
        STOCK_LEDGER.layout,
        primary_key=STOCK_LEDGER.primary_key,
    )
    with duckdb.connect(str(tmp_path / "books.duckdb")) as con:
        con.execute(older.ddl())
    books = Books(tmp_path, rated)
    with books.connect() as con:
        columns = [r[0] for r in con.execute("DESCRIBE stock_ledger").fetchall()]
    assert columns == STOCK_LEDGER.column_names
