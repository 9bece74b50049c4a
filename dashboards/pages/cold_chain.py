"""Cold chain: temperature per location with the SKU's allowed range shaded and excursions marked."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.COLD_CHAIN)
st.title("Cold chain")
try:
    locations = ui.cached(data.temperature_locations)
    skus = ui.cached(data.cold_chain_skus)
except data.Unavailable as exc:
    ui.unavailable(exc)
if not locations or skus.empty:
    st.info("No temperature readings or cold-chain SKUs yet.")
    st.stop()

excursions = ui.cached(data.excursions, None)
left, middle, right = st.columns(3)
location = left.selectbox("Location", locations, key="cold_location")
here = excursions[excursions["location_id"] == location]
# the SKUs with excursions here first: those are the curves someone will want to see
order = list(dict.fromkeys([*here["sku_id"], *skus["sku_id"]]))
sku = middle.selectbox(
    "SKU (its allowed range)",
    order,
    format_func=lambda s: f"{s} — {skus.set_index('sku_id').loc[s, 'sku_name']}",
    key="cold_sku",
)
days = right.slider("Days", 1, 30, 7, key="cold_days")
low, high = skus.set_index("sku_id").loc[sku, ["cold_chain_min_c", "cold_chain_max_c"]]

readings = ui.cached(data.temperature_readings, location, days)
readings["outside"] = (readings["celsius"] < low) | (readings["celsius"] > high)
band = pd.DataFrame({"low": [low], "high": [high]})
x = alt.X("occurred_at:T", title=None)
shade = alt.Chart(band).mark_rect(opacity=0.15, color="#2ca02c").encode(y="low:Q", y2="high:Q")
curve = (
    alt.Chart(readings)
    .mark_line()
    .encode(x=x, y=alt.Y("celsius:Q", title="°C"), color=alt.Color("sensor_id:N", title="sensor"))
)
marks = (
    alt.Chart(readings[readings["outside"]])
    .mark_point(color="#d62728", filled=True, size=40)
    .encode(x=x, y="celsius:Q", tooltip=["occurred_at:T", "sensor_id:N", "celsius:Q"])
)
st.altair_chart(alt.layer(shade, curve, marks), width="stretch")
st.caption(
    f"Allowed {low:g} … {high:g} °C for {sku}; {int(readings['outside'].sum()):,} of {len(readings):,} readings"
    f" in the last {days} days outside it (red)."
)

st.subheader("Excursions bound to batches")
batch_rows = here if not here.empty else excursions
ui.table(batch_rows, hide_index=True, width="stretch")
