"""Alerts: low stock, near expiry, temperature excursions, quarantines, data-quality failures."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.ALERTS)
st.title("Alerts")
frame = ui.cached(data.alerts, None)
if frame.empty:
    st.info("No alerts raised yet.")
    st.stop()

left, middle, right = st.columns(3)
types = left.multiselect("Type", sorted(frame["alert_type"].unique()), key="alert_types")
severities = middle.multiselect("Severity", sorted(frame["severity"].unique()), key="alert_severities")
locations = right.multiselect(
    "Location", sorted(loc for loc in frame["location"].unique() if loc), key="alert_locations"
)
if types:
    frame = frame[frame["alert_type"].isin(types)]
if severities:
    frame = frame[frame["severity"].isin(severities)]
if locations:
    frame = frame[frame["location"].isin(locations)]

counts = frame.groupby("alert_type").size()
columns = st.columns(max(len(counts), 1))
for column, (name, count) in zip(columns, counts.items(), strict=False):
    column.metric(name.replace("_", " ").capitalize(), f"{count:,}")

daily = frame.assign(day=pd.to_datetime(frame["occurred_at"]).dt.tz_convert(ui.settings().timezone).dt.date)
daily = daily.groupby(["day", "alert_type"]).size().rename("alerts").reset_index()
daily["day"] = pd.to_datetime(daily["day"])
st.altair_chart(
    alt.Chart(daily)
    .mark_bar()
    .encode(x=alt.X("day:T", title=None), y="alerts:Q", color=alt.Color("alert_type:N", title="type")),
    width="stretch",
)
ui.table(frame.head(2000), hide_index=True, width="stretch")
st.caption(f"{len(frame):,} alerts (the newest 2,000 listed).")
