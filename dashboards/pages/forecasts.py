"""Forecasts and replenishment: forecasts against actuals with their intervals, the review queue
(accept or override), and the replenishment suggestions (approve or reject)."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

role = ui.require(Area.PLANNING)
settings = ui.settings()
decides = ui.may_decide(Area.PLANNING)
st.title("Forecasts & replenishment")
try:
    run = ui.cached(data.forecast_run)
except data.Unavailable as exc:
    ui.unavailable(exc)
if run.empty:
    st.info("No forecast run yet: the first one runs when stockflow starts.")
    st.stop()
run = run.iloc[0]
run_id = run["run_id"]
series = ui.cached(data.forecast_series, run_id)
reviews = ui.cached(data.reviews, run_id)
open_reviews = reviews[reviews["status"] == "open"]

a, b, c, d = st.columns(4)
a.metric("Series forecast", f"{int(run['series']):,}")
b.metric("Waiting for review", f"{len(open_reviews):,}", help="Confidence below 85% goes to a person.")
c.metric("Median confidence", f"{series['confidence'].median():.0%}")
d.metric("Horizon", f"{int(run['horizon'])} days", help=f"From {run['last_day']} on; run {run_id}.")

st.subheader("Forecast against actuals")
choices = list(dict.fromkeys(zip(open_reviews["location"], open_reviews["sku"], strict=True))) + [
    (r.location, r.sku) for r in series.itertuples()
]
choices = list(dict.fromkeys(choices))
location, sku = st.selectbox(
    "Series (those waiting for review first)",
    choices,
    format_func=lambda c: f"{c[0]} × {c[1]}",
    key="fc_series",
)
ahead = ui.cached(data.forecast, run_id, location, sku)
actual = ui.cached(data.actual_demand, location, sku, 60)
info = series[(series["location"] == location) & (series["sku"] == sku)]
if not info.empty:
    row = info.iloc[0]
    st.caption(
        f"Model {row['model']} ({row['pattern'] or 'regular'} demand), confidence {row['confidence']:.0%}"
        + (f", backtest WAPE {row['backtest_wape']:.2f}" if pd.notna(row["backtest_wape"]) else "")
    )
ahead["day"] = pd.to_datetime(ahead["day"])
actual["day"] = pd.to_datetime(actual["day"])
x = alt.X("day:T", title=None)
layers = [
    alt.Chart(ahead)
    .mark_area(opacity=0.15)
    .encode(x=x, y=alt.Y("lo95:Q", title="units per day"), y2="hi95:Q"),
    alt.Chart(ahead).mark_area(opacity=0.25).encode(x=x, y="lo80:Q", y2="hi80:Q"),
    alt.Chart(ahead).mark_line(strokeDash=[4, 3]).encode(x=x, y="model_forecast:Q"),
    alt.Chart(ahead).mark_line(color="#ff7f0e").encode(x=x, y="forecast:Q"),
    alt.Chart(actual).mark_line(color="#1f77b4", point=True).encode(x=x, y="units:Q"),
]
st.altair_chart(alt.layer(*layers), width="stretch")
st.caption(
    "Blue: actual demand. Orange: the forecast in force (an override replaces the model's, dashed). Bands: 80% and 95% intervals."
)

st.subheader("Review queue")
ui.table(reviews, hide_index=True, width="stretch")
if decides and not open_reviews.empty:
    with st.form("review"):
        st.caption(f"Recorded as {ui.who()}.")
        target = st.selectbox(
            "Forecast",
            list(zip(open_reviews["location"], open_reviews["sku"], strict=True)),
            format_func=lambda c: f"{c[0]} × {c[1]}",
            key="review_target",
        )
        decision = st.radio("Decision", ["accept", "override"], horizontal=True, key="review_decision")
        daily = st.number_input("Override: units per day", min_value=0.0, step=1.0, key="review_daily")
        reason = st.text_input("Reason", key="review_reason")
        if st.form_submit_button("Record decision", key="review_submit"):
            try:
                data.decide_review(
                    settings, run_id, target[0], target[1],
                    daily if decision == "override" else None, ui.who(), role, reason,
                )  # fmt: skip
            except (ValueError, data.Unavailable) as exc:  # the core's reason, or the stream's
                st.error(str(exc))
            else:
                st.cache_data.clear()
                st.success(f"{target[0]} × {target[1]}: {decision} recorded.")
elif not decides:
    st.caption("Your role can see the queue but not decide.")

st.subheader("Replenishment suggestions")
try:
    suggestions = ui.cached(data.suggestions)
except data.Unavailable as exc:
    st.info(str(exc))
    st.stop()
ui.table(suggestions, hide_index=True, width="stretch")
proposed = suggestions[suggestions["status"] == "proposed"]
if decides and not proposed.empty:
    with st.form("suggestion"):
        chosen = st.selectbox("Suggestion", proposed["suggestion_id"].tolist(), key="suggestion_target")
        decision = st.radio("Decision", ["approve", "reject"], horizontal=True, key="suggestion_decision")
        approve = decision == "approve"
        reason = st.text_input("Reason (required to reject)", key="suggestion_reason")
        if st.form_submit_button("Record decision", key="suggestion_submit"):
            try:
                row = data.decide_suggestion(settings, chosen, approve, ui.who(), role, reason)
            except (ValueError, data.Unavailable) as exc:
                st.error(str(exc))
            else:
                st.cache_data.clear()
                st.success(
                    f"{chosen}: {row['status']}" + (f" as event {row['event_id']}" if row["event_id"] else "")
                )
