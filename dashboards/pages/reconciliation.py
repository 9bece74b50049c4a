"""Reconciliation: the live stock state vs the ledger vs the counts, and what was done about it."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.STOCK)
t = ui.translator()
tz = ui.settings().timezone
CLASSES = {
    "drift": t("reconciliation.explain_drift"),
    "count_variance": t("reconciliation.explain_count_variance"),
    "in_flight": t("reconciliation.explain_in_flight"),
}


def class_name(name: str) -> str:
    return t.word("classification", name)


def source_name(source: str) -> str:
    """The live state's runs, or a legacy system's export by its file name."""
    if source.startswith("legacy:"):
        return t("reconciliation.source_legacy", file=source.removeprefix("legacy:"))
    return t("reconciliation.source_stream") if source == "stream" else source


st.title(t("page.reconciliation"))
try:
    runs = ui.cached(data.reconciliation_runs)
except data.Unavailable as exc:
    ui.unavailable(exc)

live = runs[runs["source"] == "stream"]
if not live.empty:
    last = live.iloc[0]
    a, b, c, d, e = st.columns(5)
    a.metric(t("reconciliation.compared"), t.number(int(last["positions_compared"])))
    b.metric(t("reconciliation.drift"), int(last["drift"]))
    c.metric(t("reconciliation.count_variances"), int(last["count_variance"]))
    d.metric(t("reconciliation.in_flight"), int(last["in_flight"]))
    e.metric(t("reconciliation.unconfirmed"), int(last["unconfirmed"]))
    st.caption(
        t(
            "reconciliation.last_run",
            at=f"{pd.Timestamp(last['finished_at']).tz_convert(tz):%Y-%m-%d %H:%M}",
            took=t("unit.seconds", value=t.number(last["seconds"], 1)),
            events=t.number(int(last["events_replayed"])),
            corrections=int(last["corrections"]),
            adjustments=int(last["adjustments"]),
        )
    )
    history = live.melt(
        id_vars=["started_at"],
        value_vars=["drift", "count_variance", "in_flight"],
        var_name="class",
        value_name="n",
    )
    history["class"] = history["class"].map(class_name)
    st.altair_chart(
        alt.Chart(history)
        .mark_bar()
        .encode(
            x=alt.X("started_at:T", title=None, axis=ui.time_axis(with_time=True)),
            y=alt.Y("n:Q", title=t("reconciliation.axis_discrepancies")),
            color=alt.Color("class:N", title=t("column.classification")),
        ),
        width="stretch",
    )

labels = {
    r["run_id"]: t(
        "reconciliation.run_label",
        at=f"{pd.Timestamp(r['started_at']).tz_convert(tz):%m-%d %H:%M}",
        source=source_name(r["source"]),
        drift=int(r["drift"]),
        counts=int(r["count_variance"]),
    )
    for _, r in runs.iterrows()
}
run_id = st.selectbox(t("reconciliation.run"), list(labels), format_func=labels.get, key="reconciliation_run")
try:
    found = ui.cached(data.discrepancies, run_id)
except data.Unavailable as exc:
    ui.unavailable(exc)
if found.empty:
    st.success(t("reconciliation.all_agreed"))
    st.stop()
classes = st.multiselect(
    t("reconciliation.class"),
    sorted(found["classification"].unique()),
    format_func=class_name,
    key="reconciliation_classes",
)
if classes:
    found = found[found["classification"].isin(classes)]
for name, explanation in CLASSES.items():
    if (found["classification"] == name).any():
        st.caption(explanation)
totals = found.groupby("classification").agg(positions=("qty", "size"), value=("value", "sum")).reset_index()
ui.table(totals, hide_index=True)
ui.table(found, hide_index=True, width="stretch")
