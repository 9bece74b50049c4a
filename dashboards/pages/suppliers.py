"""Suppliers: the risk each one's inbound pallets show (damage found by the dock cameras)."""

import altair as alt
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area
from stockflow.risk import HALF_LIFE_DAYS, HIGH, MEDIUM, PRIOR_PALLETS, PRIOR_RATE

ui.require(Area.PLANNING)
st.title("Suppliers")
try:
    risk = ui.cached(data.supplier_risk)
except data.Unavailable as exc:
    ui.unavailable(exc)

a, b, c = st.columns(3)
a.metric("Suppliers", len(risk))
b.metric("High risk", int((risk["level"] == "high").sum()))
c.metric("Pallets inspected", f"{int(risk['pallets'].sum()):,}")
if not risk["pallets"].any():
    st.info("No pallet inspected yet: every supplier shows the prior.")
st.altair_chart(
    alt.Chart(risk)
    .mark_bar()
    .encode(
        x=alt.X("risk:Q", title="pallet damage risk", axis=alt.Axis(format="%")),
        y=alt.Y("supplier:N", sort="-x", title=None),
        color=alt.Color(
            "level:N",
            scale=alt.Scale(domain=["low", "medium", "high"], range=["#4c9a2a", "#e0a500", "#c0392b"]),
        ),
        tooltip=["supplier", "name", alt.Tooltip("risk:Q", format=".1%"), "pallets", "damaged_pallets"],
    ),
    width="stretch",
)
ui.table(risk, hide_index=True, width="stretch")
st.caption(
    f"Risk = (α + k) / (α + β + n): n inspected pallets and k with a damaged carton, each weighted "
    f"0.5^(age in days / {HALF_LIFE_DAYS:.0f}); prior α + β = {PRIOR_PALLETS:.0f} pallets at {PRIOR_RATE:.0%}, so "
    f"a new supplier is not judged on two pallets. High from {HIGH:.0%}, medium from {MEDIUM:.0%}."
)
