"""Cold chain: temperature per location with the SKU's allowed range shaded and excursions marked."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.COLD_CHAIN)
t = ui.translator()
st.title(t("page.cold_chain"))
try:
    locations = ui.cached(data.temperature_locations)
    skus = ui.cached(data.cold_chain_skus)
except data.Unavailable as exc:
    ui.unavailable(exc)
if not locations or skus.empty:
    st.info(t("cold.none"))
    st.stop()

excursions = ui.cached(data.excursions, None)
left, middle, right = st.columns(3)
location = left.selectbox(t("cold.location"), locations, key="cold_location")
here = excursions[excursions["location_id"] == location]
# the SKUs with excursions here first: those are the curves someone will want to see
order = list(dict.fromkeys([*here["sku_id"], *skus["sku_id"]]))
sku = middle.selectbox(
    t("cold.sku"),
    order,
    format_func=lambda s: f"{s} — {skus.set_index('sku_id').loc[s, 'sku_name']}",
    key="cold_sku",
)
days = right.slider(t("cold.days"), 1, 30, 7, key="cold_days")
low, high = skus.set_index("sku_id").loc[sku, ["cold_chain_min_c", "cold_chain_max_c"]]

readings = ui.cached(data.temperature_readings, location, days)
readings["outside"] = (readings["celsius"] < low) | (readings["celsius"] > high)
band = pd.DataFrame({"low": [low], "high": [high]})
x = alt.X("occurred_at:T", title=None, axis=ui.time_axis(with_time=True))
shade = (
    alt.Chart(band).mark_rect(opacity=0.15, color="#2ca02c").encode(y=alt.Y("low:Q", title="°C"), y2="high:Q")
)
curve = (
    alt.Chart(readings)
    .mark_line()
    .encode(
        x=x, y=alt.Y("celsius:Q", title="°C"), color=alt.Color("sensor_id:N", title=t("column.sensor_id"))
    )
)
marks = (
    alt.Chart(readings[readings["outside"]])
    .mark_point(color="#d62728", filled=True, size=40)
    .encode(
        x=x,
        y=alt.Y("celsius:Q", title="°C"),
        tooltip=[
            alt.Tooltip("occurred_at:T", title=t("column.occurred_at"), format="%Y-%m-%d %H:%M"),
            alt.Tooltip("sensor_id:N", title=t("column.sensor_id")),
            alt.Tooltip("celsius:Q", title="°C"),
        ],
    )
)
st.altair_chart(alt.layer(shade, curve, marks), width="stretch")
st.caption(
    t(
        "cold.caption",
        low=f"{low:g}",
        high=f"{high:g}",
        sku=sku,
        outside=t.number(int(readings["outside"].sum())),
        readings=t.number(len(readings)),
        days=days,
    )
)

st.subheader(t("cold.excursions"))
batch_rows = here if not here.empty else excursions
ui.table(batch_rows, hide_index=True, width="stretch")
