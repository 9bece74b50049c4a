"""Alerts: low stock, near expiry, temperature excursions, quarantines, data-quality failures."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.i18n import stored_message
from stockflow.masking import Area

ui.require(Area.ALERTS)
t = ui.translator()
st.title(t("page.alerts"))
frame = ui.cached(data.alerts, None)
if frame.empty:
    st.info(t("alerts.none"))
    st.stop()


def alert_type(name: str) -> str:
    return t.word("alert_type", name)


def severity(name: str) -> str:
    return t.word("severity", name)


left, middle, right = st.columns(3)
types = left.multiselect(
    t("alerts.type"), sorted(frame["alert_type"].unique()), format_func=alert_type, key="alert_types"
)
severities = middle.multiselect(
    t("alerts.severity"), sorted(frame["severity"].unique()), format_func=severity, key="alert_severities"
)
locations = right.multiselect(
    t("alerts.location"), sorted(loc for loc in frame["location"].unique() if loc), key="alert_locations"
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
    column.metric(alert_type(name), t.number(count))

daily = frame.assign(day=pd.to_datetime(frame["occurred_at"]).dt.tz_convert(ui.settings().timezone).dt.date)
daily = daily.groupby(["day", "alert_type"]).size().rename("alerts").reset_index()
daily["day"] = pd.to_datetime(daily["day"])
daily["alert_type"] = daily["alert_type"].map(alert_type)
st.altair_chart(
    alt.Chart(daily)
    .mark_bar()
    .encode(
        x=alt.X("day:T", title=None, axis=ui.time_axis()),
        y=alt.Y("alerts:Q", title=t("alerts.axis_alerts")),
        color=alt.Color("alert_type:N", title=t("alerts.type")),
    ),
    width="stretch",
)
listed = frame.head(2000)
listed = listed.assign(
    message=[stored_message(d, m, t) for d, m in zip(listed["details"], listed["message"], strict=True)]
).drop(columns=["details"])
ui.table(listed, hide_index=True, width="stretch")
st.caption(t("alerts.caption", count=t.number(len(frame))))
