"""The no-stock edition's stores: the service items (var/service_items.json) and what the
service worker landed in the lake, read with DuckDB (orders and their fulfilment, revenue
vouchers, customers' consumption per month)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from lake.tables import SERVICE_CONSUMPTIONS, SERVICE_FULFILMENTS, SERVICE_ORDER_LINES, SERVICE_VOUCHER_LINES
from stockflow.service_orders import OrderLine, ServiceItem

ITEMS_FILE = "service_items.json"


class ServiceItemsFile:
    """The service items, one JSON file (written whole, atomically)."""

    def __init__(self, var_dir: Path) -> None:
        self.path = var_dir / ITEMS_FILE

    def mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return None

    def load(self) -> dict[str, ServiceItem]:
        try:
            body = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {row["code"]: ServiceItem.model_validate(row) for row in body.get("items", [])}

    def save(self, items: Iterable[ServiceItem]) -> None:
        rows = [json.loads(item.model_dump_json()) for item in sorted(items, key=lambda i: i.code)]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps({"items": rows}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def put(self, item: ServiceItem) -> None:
        """Add the item, or replace the one with its code (orders already placed keep their price)."""
        items = self.load()
        items[item.code] = item
        self.save(items.values())


class ServiceRecords:
    """What the service worker landed, read from the lake's Parquet files."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = lake_dir

    def _source(self, table: str) -> str | None:
        files = sorted(str(p) for p in (self.lake_dir / table).glob("date=*/part-*.parquet"))
        if not files:
            return None
        return "read_parquet([" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "])"

    def _rows(self, sql: str, **tables: str) -> list[dict[str, Any]]:
        sources = {name: self._source(table) for name, table in tables.items()}
        if any(source is None for source in sources.values()):
            return []
        with duckdb.connect() as con:
            cursor = con.execute(sql.format(**sources))
            columns = [d[0] for d in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def order_lines(self) -> list[dict[str, Any]]:
        """One row per order line: ordered, delivered, left, revenue booked so far."""
        lines = self._rows(
            "SELECT * FROM {lines} ORDER BY occurred_at, service_order, line", lines=SERVICE_ORDER_LINES.name
        )
        delivered: dict[tuple[str, int], dict[str, Any]] = {}
        for row in self.fulfilments():
            key = (row["service_order"], row["line"])
            got = delivered.setdefault(key, {"qty": 0, "net": 0, "vat": 0})
            got["qty"] += row["qty"]
            got["net"] += row["net"]
            got["vat"] += row["vat"]
        out = []
        for row in lines:
            got = delivered.get((row["service_order"], row["line"]), {"qty": 0, "net": 0, "vat": 0})
            out.append(
                {
                    "occurred_at": row["occurred_at"],
                    "customer": row["customer"],
                    "service_order": row["service_order"],
                    "line": row["line"],
                    "item": row["item"],
                    "item_name": row["item_name"],
                    "unit": row["unit"],
                    "qty": row["qty"],
                    "unit_price": row["unit_price"],
                    "delivered": got["qty"],
                    "left": row["qty"] - got["qty"],
                    "revenue": got["net"],
                    "vat": got["vat"],
                }
            )
        return out

    def fulfilments(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM {f} ORDER BY apply_seq", f=SERVICE_FULFILMENTS.name)

    def consumptions(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM {c} ORDER BY apply_seq", c=SERVICE_CONSUMPTIONS.name)

    def voucher_lines(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM {v} ORDER BY apply_seq, line_no", v=SERVICE_VOUCHER_LINES.name)

    def customer_consumption(self, timezone: str) -> list[dict[str, Any]]:
        """Per customer and month (the company's time zone): orders placed, units delivered,
        revenue and VAT booked, materials' cost."""
        months: dict[tuple[str, str], dict[str, Any]] = {}

        zone = ZoneInfo(timezone)

        def month(at: datetime) -> str:
            return at.astimezone(zone).strftime("%Y-%m")

        def row(customer: str, at: datetime) -> dict[str, Any]:
            key = (customer, month(at))
            return months.setdefault(
                key,
                {
                    "customer": customer,
                    "month": key[1],
                    "orders": set(),
                    "delivered": 0,
                    "revenue": 0,
                    "vat": 0,
                    "materials_cost": 0,
                },
            )

        for line in self._rows("SELECT * FROM {lines}", lines=SERVICE_ORDER_LINES.name):
            row(line["customer"], line["occurred_at"])["orders"].add(line["service_order"])
        for f in self.fulfilments():
            got = row(f["customer"], f["occurred_at"])
            got["delivered"] += f["qty"]
            got["revenue"] += f["net"]
            got["vat"] += f["vat"]
        for c in self.consumptions():
            row(c["customer"], c["occurred_at"])["materials_cost"] += c["cost"]
        return [
            {**values, "orders": len(values["orders"])}
            for _, values in sorted(months.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ]

    def last_apply_seq(self) -> int:
        """The highest apply_seq landed in the service tables (0: none)."""
        highest = 0
        for table in (SERVICE_ORDER_LINES, SERVICE_FULFILMENTS, SERVICE_CONSUMPTIONS, SERVICE_VOUCHER_LINES):
            got = self._rows("SELECT max(apply_seq) AS seq FROM {t}", t=table.name)
            highest = max(highest, (got[0]["seq"] or 0) if got else 0)
        return highest

    def restore(self) -> tuple[list[OrderLine], list[tuple[str, int, Any]], set[str]]:
        """What the worker booked before: order lines, deliveries, and every event id taken."""
        lines = [
            OrderLine(
                r["service_order"],
                r["customer"],
                r["line"],
                r["item"],
                r["item_name"] or r["item"],
                r["unit"] or "",
                r["qty"],
                r["unit_price"],
                r["vat_rate"],
            )
            for r in self._rows("SELECT * FROM {lines}", lines=SERVICE_ORDER_LINES.name)
        ]
        fulfilments = self.fulfilments()
        delivered = [(r["service_order"], r["line"], r["qty"]) for r in fulfilments]
        seen = {
            r["event_id"] for r in self._rows("SELECT event_id FROM {lines}", lines=SERVICE_ORDER_LINES.name)
        }
        seen |= {r["event_id"] for r in fulfilments}
        seen |= {r["event_id"] for r in self.consumptions()}
        return lines, delivered, seen
