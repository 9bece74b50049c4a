"""Dishes (菜品分析): menu engineering from the warehouse's dish sales: the margin each dish and
each sales channel earns, and the dishes that earn most and least."""

import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.FINANCE)
t = ui.translator()
st.title(t("page.dishes"))
DAYS = 30
try:
    sales = ui.cached(data.dish_sales, DAYS)
except data.Unavailable as exc:
    ui.unavailable(exc)
if sales.empty:
    st.info(t("dishes.none"))
    st.stop()
dishes = ui.cached(data.dish_margins, "dish_sku_id", DAYS)
channels = ui.cached(data.dish_margins, "channel", DAYS)
st.caption(
    t(
        "dishes.caption",
        days=DAYS,
        first=t.day(sales["business_date"].min()),
        last=t.day(sales["business_date"].max()),
    )
)

MONEY = ["revenue_net", "ingredient_cost", "gross_margin"]
COLUMNS = ["portions_net", *MONEY, "margin_pct"]
revenue, margin = channels["revenue_net"].sum(), channels["gross_margin"].sum()
left, middle, right = st.columns(3)
left.metric(t("dishes.revenue"), t.money(revenue))
middle.metric(t("dishes.margin"), t.money(margin))
right.metric(t("dishes.margin_pct"), t.percent(float(margin / revenue)) if revenue else "–")


def margin_table(frame, key: str) -> None:
    """One row per `key` (dish or channel): portions, revenue, cost, margin and its share."""
    shown = frame.copy()
    if key == "channel":
        shown["channel"] = [t(f"dishes.channel.{c}") for c in shown["channel"]]
    labelled = ui.labelled(ui.shown(shown[[key, *COLUMNS]]).set_index(key))
    money = [t(f"column.{c}") for c in MONEY]
    st.table(
        labelled.style.format(t.money, subset=money).format(
            lambda v: t.percent(float(v)) if v == v and v is not None else "–",
            subset=[t("column.margin_pct")],
        )
    )


st.subheader(t("dishes.by_dish"))
margin_table(dishes, "dish_sku_id")
top, bottom = st.columns(2)
with top:
    st.subheader(t("dishes.top"))
    margin_table(dishes.head(5), "dish_sku_id")
with bottom:
    st.subheader(t("dishes.bottom"))
    margin_table(dishes.tail(5).iloc[::-1], "dish_sku_id")
st.subheader(t("dishes.by_channel"))
margin_table(channels, "channel")
