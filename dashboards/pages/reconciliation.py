"""Reconciliation: the live stock state vs the ledger vs the counts, and what was done about it."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

CLASSES = {
    "drift": "Drift: the live state differed from the ledger; a correction event repaired it.",
    "count_variance": "Count variance: a count differed from the book; an adjustment books it to 待处理财产损溢.",
    "in_flight": "In flight: events applied but not landed yet; resolves itself.",
}

ui.require(Area.STOCK)
st.title("Reconciliation")
try:
    runs = ui.cached(data.reconciliation_runs)
except data.Unavailable as exc:
    ui.unavailable(exc)

live = runs[runs["source"] == "stream"]
if not live.empty:
    last = live.iloc[0]
    a, b, c, d, e = st.columns(5)
    a.metric("Positions compared", f"{int(last['positions_compared']):,}")
    b.metric("Drift", int(last["drift"]))
    c.metric("Count variances", int(last["count_variance"]))
    d.metric("In flight", int(last["in_flight"]))
    e.metric("Repairs unconfirmed", int(last["unconfirmed"]))
    st.caption(
        f"Last run {pd.Timestamp(last['finished_at']).tz_convert(ui.settings().timezone):%Y-%m-%d %H:%M} "
        f"in {last['seconds']:.1f} s over {int(last['events_replayed']):,} events; "
        f"{int(last['corrections'])} corrections and {int(last['adjustments'])} adjustments sent."
    )
    history = live.melt(
        id_vars=["started_at"],
        value_vars=["drift", "count_variance", "in_flight"],
        var_name="class",
        value_name="n",
    )
    st.altair_chart(
        alt.Chart(history)
        .mark_bar()
        .encode(x=alt.X("started_at:T", title=None), y=alt.Y("n:Q", title="discrepancies"), color="class:N"),
        width="stretch",
    )

labels = {
    r[
        "run_id"
    ]: f"{pd.Timestamp(r['started_at']).tz_convert(ui.settings().timezone):%m-%d %H:%M} · {r['source']}"
    f" · {int(r['drift'])} drift, {int(r['count_variance'])} count"
    for _, r in runs.iterrows()
}
run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="reconciliation_run")
try:
    found = ui.cached(data.discrepancies, run_id)
except data.Unavailable as exc:
    ui.unavailable(exc)
if found.empty:
    st.success("Every position agreed.")
    st.stop()
classes = st.multiselect("Class", sorted(found["classification"].unique()), key="reconciliation_classes")
if classes:
    found = found[found["classification"].isin(classes)]
for name, explanation in CLASSES.items():
    if (found["classification"] == name).any():
        st.caption(explanation)
totals = found.groupby("classification").agg(positions=("qty", "size"), value=("value", "sum")).reset_index()
ui.table(totals, hide_index=True)
ui.table(found, hide_index=True, width="stretch")
