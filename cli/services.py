"""`stockflow services`: the no-stock edition's service items, orders and customers' consumption."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import typer
from rich.text import Text

from cli.common import Format, console, format_option, print_table, t
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

services_app = typer.Typer(no_args_is_help=True, help=t("cli.services.help"))
items_app = typer.Typer(no_args_is_help=True, help=t("cli.services.items.help"))
services_app.add_typer(items_app, name="items")

ITEM_COLUMNS = ("code", "name", "unit", "price", "vat_rate")
ORDER_COLUMNS = ("customer", "service_order", "line", "item", "qty", "delivered", "left", "revenue", "vat")
CONSUMPTION_COLUMNS = ("customer", "month", "orders", "delivered", "revenue", "vat", "materials_cost")


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        console.print(Text(t("cli.services.not_a_number", value=value), style="red"))
        raise typer.Exit(2) from None


@items_app.command("add", help=t("cli.services.items.add.help"))
def items_add(
    code: str = typer.Argument(..., help=t("cli.services.items.add.code")),
    name: str = typer.Option(..., "--name", help=t("cli.services.items.add.name")),
    price: str = typer.Option(..., "--price", help=t("cli.services.items.add.price")),
    unit: str = typer.Option("hour", "--unit", help=t("cli.services.items.add.unit")),
    vat_rate: str = typer.Option("0.06", "--vat-rate", help=t("cli.services.items.add.vat_rate")),
) -> None:
    """Add a service item, or change the one with this code (orders placed keep their prices)."""
    from pydantic import ValidationError

    from stockflow.service_orders import ServiceItem
    from stores.services import ServiceItemsFile

    try:
        item = ServiceItem(
            code=code, name=name, unit=unit, price=_decimal(price), vat_rate=_decimal(vat_rate)
        )
    except ValidationError as exc:
        console.print(Text(t("cli.services.items.invalid", error=str(exc.errors()[0]["msg"])), style="red"))
        raise typer.Exit(2) from None
    ServiceItemsFile(get_settings().var_dir).put(item)
    console.print(t("cli.services.items.added", code=item.code, name=item.name), markup=False)


@items_app.command("list", help=t("cli.services.items.list.help"))
def items_list(fmt: Format = format_option()) -> None:
    from stores.services import ServiceItemsFile

    items = ServiceItemsFile(get_settings().var_dir).load()
    rows = [item.model_dump() for item in sorted(items.values(), key=lambda i: i.code)]
    print_table(rows, ITEM_COLUMNS, fmt, t("cli.services.items.title"))


@services_app.command("orders", help=t("cli.services.orders.help"))
def orders(fmt: Format = format_option()) -> None:
    """Every order line: ordered, delivered, left, revenue and VAT booked."""
    from stores.services import ServiceRecords

    print_table(
        ServiceRecords(get_settings().lake_dir).order_lines(),
        ORDER_COLUMNS,
        fmt,
        t("cli.services.orders.title"),
    )


@services_app.command("consumption", help=t("cli.services.consumption.help"))
def consumption(fmt: Format = format_option()) -> None:
    """Per customer and month: orders, units delivered, revenue, VAT, materials' cost."""
    from stores.services import ServiceRecords

    settings = get_settings()
    rows = ServiceRecords(settings.lake_dir).customer_consumption(settings.timezone)
    print_table(rows, CONSUMPTION_COLUMNS, fmt, t("cli.services.consumption.title"))


GROUPS: dict[str, typer.Typer] = {"services": services_app}
