"""Open items of both subledgers in the lake, as the books export them: one file,
`open_items/part-current.parquet`, replaced whole. Known rows whose ages span every ageing
bucket (and its edges), with credits and settled items, for the warehouse's ageing marts and
the Ageing page."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lake.tables import OPEN_ITEMS
from stockflow.finance import OpenItem, PartyKind
from stockflow.masterdata import Catalog

OPEN_ITEMS_FILE = "part-current.parquet"

#: (set of books, party, days old, open amount, amount): the first set of books and party of
#: each kind are index 0, the second index 1, ...; a negative days old is a document dated
#: after the day the ages are counted on
_SUPPLIER_ITEMS = [
    (0, 0, 0, "1000.00", "1000.00"),
    (0, 0, 30, "200.50", "200.50"),
    (0, 0, 31, "300.00", "450.00"),  # partly paid
    (0, 0, 95, "50.00", "50.00"),
    (0, 1, 60, "120.00", "120.00"),
    (0, 1, 61, "80.00", "80.00"),
    (0, 1, 90, "40.00", "40.00"),
    (0, 1, 10, "-75.25", "-75.25"),  # paid on account: a credit
    (1, 0, 200, "999.99", "999.99"),
    (1, 0, 5, "0.00", "500.00"),  # settled
    (1, 2, 40, "0.00", "60.00"),  # a party with nothing open
]
_CUSTOMER_ITEMS = [
    (0, 0, -3, "10.00", "10.00"),
    (0, 0, 45, "450.00", "450.00"),
    (0, 0, 20, "-30.00", "-30.00"),  # a credit note not used up
    (0, 1, 91, "910.00", "910.00"),
    (0, 1, 120, "12.34", "12.34"),
    (1, 0, 15, "150.00", "150.00"),
    (1, 0, 75, "75.00", "75.00"),
    (1, 1, 5, "-20.00", "-20.00"),  # only a credit: the party's total is negative
]


def sample_open_items(catalog: Catalog, as_of: date) -> list[OpenItem]:
    """Payables and receivables of the catalogue's first suppliers and customers in its two
    sets of books, dated back from `as_of`."""
    units = sorted({loc.accounting_unit for loc in catalog.locations.values()})
    units = (units * 2)[:2]
    parties = {
        PartyKind.SUPPLIER: sorted(catalog.suppliers)[:3],
        PartyKind.CUSTOMER: sorted(catalog.customers)[:2],
    }
    items = []
    for kind, spec in ((PartyKind.SUPPLIER, _SUPPLIER_ITEMS), (PartyKind.CUSTOMER, _CUSTOMER_ITEMS)):
        for n, (unit, party, days, open_amount, amount) in enumerate(spec):
            document_date = as_of - timedelta(days=days)
            document = f"{'PI' if kind is PartyKind.SUPPLIER else 'SI'}-AGE-{n:03d}"
            items.append(
                OpenItem(
                    item_id=f"ageing:{kind.value}:{n}",
                    accounting_unit=units[unit],
                    party_kind=kind,
                    party=parties[kind][party],
                    document=document,
                    document_type="credit" if Decimal(amount) < 0 else "invoice",
                    document_date=document_date,
                    due_date=document_date + timedelta(days=30),
                    amount=Decimal(amount),
                    open_amount=Decimal(open_amount),
                    source_event_id=f"event:{document}",
                )
            )
    return items


def read_open_items(lake_dir: Path) -> list[OpenItem]:
    """The open items in the lake's file (none when there is no file)."""
    path = lake_dir / OPEN_ITEMS.name / OPEN_ITEMS_FILE
    if not path.exists():
        return []
    fields = set(OpenItem.__dataclass_fields__)
    return [
        OpenItem(
            **{
                **{k: v for k, v in row.items() if k in fields},
                "party_kind": PartyKind(row["party_kind"]),
                "sales_order": row["sales_order"] or "",
                "sku": row["sku"] or "",
                "net": row["net"] or Decimal(0),
                "vat": row["vat"] or Decimal(0),
            }
        )
        for row in pq.read_table(path).to_pylist()
    ]


def write_open_items(lake_dir: Path, items: list[OpenItem]) -> list[OpenItem]:
    """`items` added to the lake's open items (the file replaced whole, as the books do); every
    item the file then holds."""
    kept = [i for i in read_open_items(lake_dir) if i.item_id not in {n.item_id for n in items}]
    every = kept + items
    now = datetime.now(UTC)
    rows = [
        {
            "item_id": i.item_id,
            "accounting_unit": i.accounting_unit,
            "party_kind": i.party_kind.value,
            "party": i.party,
            "document": i.document,
            "document_type": i.document_type,
            "document_date": i.document_date,
            "due_date": i.due_date,
            "amount": i.amount,
            "open_amount": i.open_amount,
            "source_event_id": i.source_event_id,
            "sales_order": i.sales_order,
            "sku": i.sku,
            "net": i.net,
            "vat": i.vat,
            "updated_at": now,
        }
        for i in every
    ]
    folder = lake_dir / OPEN_ITEMS.name
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{OPEN_ITEMS_FILE}.tmp"
    pq.write_table(pa.Table.from_pylist(rows, schema=OPEN_ITEMS.schema), tmp)
    os.replace(tmp, folder / OPEN_ITEMS_FILE)
    return every
