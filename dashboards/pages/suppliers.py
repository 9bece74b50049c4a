"""Suppliers: the risk each one's inbound pallets show (damage found by the dock cameras)."""

import altair as alt
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area
from stockflow.risk import HALF_LIFE_DAYS, HIGH, MEDIUM, PRIOR_PALLETS, PRIOR_RATE

ui.require(Area.PLANNING)
t = ui.translator()
st.title(t("page.suppliers"))
try:
    risk = ui.cached(data.supplier_risk)
except data.Unavailable as exc:
    ui.unavailable(exc)

a, b, c = st.columns(3)
a.metric(t("suppliers.count"), len(risk))
b.metric(t("suppliers.high_risk"), int((risk["level"] == "high").sum()))
c.metric(t("suppliers.pallets"), t.number(int(risk["pallets"].sum())))
if not risk["pallets"].any():
    st.info(t("suppliers.none_inspected"))
LEVELS = {"low": t("value.level.low"), "medium": t("value.level.medium"), "high": t("value.level.high")}
st.altair_chart(
    alt.Chart(risk.assign(level=risk["level"].map(LEVELS)))
    .mark_bar()
    .encode(
        x=alt.X("risk:Q", title=t("suppliers.axis_risk"), axis=alt.Axis(format="%")),
        y=alt.Y("supplier:N", sort="-x", title=None),
        color=alt.Color(
            "level:N",
            title=t("column.level"),
            scale=alt.Scale(domain=list(LEVELS.values()), range=["#4c9a2a", "#e0a500", "#c0392b"]),
        ),
        tooltip=[
            alt.Tooltip("supplier:N", title=t("column.supplier")),
            alt.Tooltip("name:N", title=t("column.name")),
            alt.Tooltip("risk:Q", title=t("column.risk"), format=".1%"),
            alt.Tooltip("pallets:Q", title=t("column.pallets")),
            alt.Tooltip("damaged_pallets:Q", title=t("column.damaged_pallets")),
        ],
    ),
    width="stretch",
)
ui.table(risk, hide_index=True, width="stretch")
st.caption(
    t(
        "suppliers.caption",
        half_life=f"{HALF_LIFE_DAYS:.0f}",
        prior=f"{PRIOR_PALLETS:.0f}",
        rate=t.percent(PRIOR_RATE, 0),
        high=t.percent(HIGH, 0),
        medium=t.percent(MEDIUM, 0),
    )
)
