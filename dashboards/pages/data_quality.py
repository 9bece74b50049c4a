"""Data quality: the latest expectation results and master-data completeness per SKU."""

import altair as alt
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.QUALITY)
st.title("Data quality")
try:
    run, results = ui.cached(data.quality_results)
    completeness = ui.cached(data.sku_completeness)
except data.Unavailable as exc:
    ui.unavailable(exc)

latest = run.iloc[0]
a, b, c, d = st.columns(4)
a.metric("Latest check", "passed" if latest["success"] else "FAILED")
b.metric("Critical failures", int(latest["critical_failures"]))
c.metric("Warnings", int(latest["warnings"]))
d.metric("SKUs fully described", f"{(completeness['completeness'] >= 1).mean():.0%}")
st.caption(f"Checked at {latest['checked_at']:%Y-%m-%d %H:%M} in {latest['seconds']:.1f} s.")

st.subheader("Expectations")
ui.table(results, hide_index=True, width="stretch")

st.subheader("Master-data completeness per SKU")
st.altair_chart(
    alt.Chart(completeness)
    .mark_bar()
    .encode(
        x=alt.X("completeness:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("sku_id:N", sort="x", title=None),
        color=alt.Color("gtin_valid:N", title="GTIN valid"),
    ),
    width="stretch",
)
