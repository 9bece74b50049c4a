"""Production (生产): the work orders and their state, the cost held in production (WIP), and
the kitting (齐套) of the open orders: which are kitted, what is short, and what to make and
to buy for them."""

import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.PLANNING)
t = ui.translator()
st.title(t("page.production"))
try:
    orders = ui.cached(data.work_orders)
except data.Unavailable as exc:
    ui.unavailable(exc)
if orders.empty:
    st.info(t("production.none"))
    st.stop()

open_orders = orders[orders["status"] != "closed"]
horizon = st.number_input(t("production.horizon"), min_value=1, max_value=365, value=30, step=1)
try:
    kitting = ui.cached(data.kitting, int(horizon))
except data.Unavailable as exc:
    ui.unavailable(exc)

first, second, third, fourth = st.columns(4)
first.metric(t("production.open_orders"), t.number(len(open_orders)))
second.metric(t("production.wip"), t.money(orders["wip_value"].sum()))
third.metric(t("production.kitted"), t.percent(kitting["kitted_rate"]))
fourth.metric(t("production.lines_covered"), t.percent(kitting["line_rate"]))
st.caption(t("production.caption", days=int(horizon), orders=len(kitting["orders"])))


def table(frame, money=(), percent=()) -> None:
    labelled = ui.labelled(ui.shown(frame))
    style = labelled.style
    if money:
        style = style.format(t.money, subset=[t(f"column.{c}") for c in money])
    if percent:
        style = style.format(
            lambda v: t.percent(float(v)) if v == v and v is not None else "–",
            subset=[t(f"column.{c}") for c in percent],
        )
    st.dataframe(style, hide_index=True, use_container_width=True)


st.subheader(t("production.orders"))
rates = kitting["orders"].set_index("work_order_id")["kitting_rate"]
shown = orders.assign(kitting_rate=orders["work_order_id"].map(rates))
table(
    shown[
        [
            "work_order_id",
            "location_id",
            "product_sku_id",
            "status",
            "ordered_units",
            "received_units",
            "due_date",
            "kitting_rate",
            "material_cost",
            "labour_cost",
            "overhead_cost",
            "service_fee",
            "goods_value",
            "variance",
            "wip_value",
        ]
    ],
    money=(
        "material_cost",
        "labour_cost",
        "overhead_cost",
        "service_fee",
        "goods_value",
        "variance",
        "wip_value",
    ),
    percent=("kitting_rate",),
)

st.subheader(t("production.shortages"))
if kitting["shortages"].empty:
    st.success(t("production.no_shortages"))
else:
    table(kitting["shortages"])
    with st.expander(t("production.lines")):
        table(kitting["lines"][kitting["lines"]["short"] > 0])
left, right = st.columns(2)
with left:
    st.subheader(t("production.to_make"))
    table(kitting["make"])
with right:
    st.subheader(t("production.to_buy"))
    table(kitting["buy"])
