"""Forecasts and replenishment: forecasts against actuals with their intervals, the review queue
(accept or override), and the replenishment suggestions (approve or reject)."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.forecasting import REVIEW_BELOW, REVIEW_CONSISTENT, REVIEW_EVIDENCE, REVIEW_STEP
from stockflow.i18n import explain
from stockflow.masking import Area

role = ui.require(Area.PLANNING)
t = ui.translator()
settings = ui.settings()
decides = ui.may_decide(Area.PLANNING)
st.title(t("page.forecasts"))
try:
    run = ui.cached(data.forecast_run)
except data.Unavailable as exc:
    ui.unavailable(exc)
if run.empty:
    st.info(t("forecasts.no_run"))
    st.stop()
run = run.iloc[0]
run_id = run["run_id"]
series = ui.cached(data.forecast_series, run_id)
reviews = ui.cached(data.reviews, run_id)
open_reviews = reviews[reviews["status"] == "open"]

a, b, c, d = st.columns(4)
a.metric(t("forecasts.series"), t.number(int(run["series"])))
b.metric(t("forecasts.waiting"), t.number(len(open_reviews)), help=t("forecasts.waiting_help"))
c.metric(t("forecasts.median_confidence"), t.percent(series["confidence"].median(), 0))
d.metric(
    t("forecasts.horizon"),
    t("unit.days", value=int(run["horizon"])),
    help=t("forecasts.horizon_help", day=run["last_day"], run=run_id),
)

st.subheader(t("forecasts.against_actuals"))
choices = list(dict.fromkeys(zip(open_reviews["location"], open_reviews["sku"], strict=True))) + [
    (r.location, r.sku) for r in series.itertuples()
]
choices = list(dict.fromkeys(choices))
location, sku = st.selectbox(
    t("forecasts.series_choice"), choices, format_func=lambda c: f"{c[0]} × {c[1]}", key="fc_series"
)
ahead = ui.cached(data.forecast, run_id, location, sku)
actual = ui.cached(data.actual_demand, location, sku, 60)
info = series[(series["location"] == location) & (series["sku"] == sku)]
if not info.empty:
    row = info.iloc[0]
    pattern = t.word("pattern", row["pattern"] or "regular")
    confidence = t.percent(row["confidence"], 0)
    if pd.notna(row["backtest_wape"]):
        st.caption(
            t(
                "forecasts.model_caption_wape",
                model=row["model"],
                pattern=pattern,
                confidence=confidence,
                wape=f"{row['backtest_wape']:.2f}",
            )
        )
    else:
        st.caption(t("forecasts.model_caption", model=row["model"], pattern=pattern, confidence=confidence))
ahead["day"] = pd.to_datetime(ahead["day"])
actual["day"] = pd.to_datetime(actual["day"])
x = alt.X("day:T", title=None, axis=ui.time_axis())
units = t("forecasts.axis_units")  # one axis: every layer carries its title
layers = [
    alt.Chart(ahead).mark_area(opacity=0.15).encode(x=x, y=alt.Y("lo95:Q", title=units), y2="hi95:Q"),
    alt.Chart(ahead).mark_area(opacity=0.25).encode(x=x, y=alt.Y("lo80:Q", title=units), y2="hi80:Q"),
    alt.Chart(ahead).mark_line(strokeDash=[4, 3]).encode(x=x, y=alt.Y("model_forecast:Q", title=units)),
    alt.Chart(ahead).mark_line(color="#ff7f0e").encode(x=x, y=alt.Y("forecast:Q", title=units)),
    alt.Chart(actual).mark_line(color="#1f77b4", point=True).encode(x=x, y=alt.Y("units:Q", title=units)),
]
st.altair_chart(alt.layer(*layers), width="stretch")
st.caption(t("forecasts.chart_caption"))

st.subheader(t("forecasts.review_queue"))
ui.table(reviews, hide_index=True, width="stretch")
if decides and not open_reviews.empty:
    with st.form("review"):
        st.caption(t("forecasts.recorded_as", name=ui.who()))
        target = st.selectbox(
            t("forecasts.forecast"),
            list(zip(open_reviews["location"], open_reviews["sku"], strict=True)),
            format_func=lambda c: f"{c[0]} × {c[1]}",
            key="review_target",
        )
        review_labels = {"accept": t("forecasts.accept"), "override": t("forecasts.override")}
        decision = st.radio(
            t("forecasts.decision"),
            list(review_labels),
            format_func=review_labels.get,
            horizontal=True,
            key="review_decision",
        )
        daily = st.number_input(t("forecasts.override_daily"), min_value=0.0, step=1.0, key="review_daily")
        reason = st.text_input(t("forecasts.reason"), key="review_reason")
        if st.form_submit_button(t("forecasts.record"), key="review_submit"):
            try:
                data.decide_review(
                    settings, run_id, target[0], target[1],
                    daily if decision == "override" else None, ui.who(), role, reason,
                )  # fmt: skip
            except data.Unavailable as exc:  # the stream's reason
                st.error(ui.reason(exc))
            except ValueError as exc:  # the core's reason
                st.error(explain(exc, t))
            else:
                st.cache_data.clear()
                st.success(
                    t(
                        "forecasts.review_recorded",
                        location=target[0],
                        sku=target[1],
                        decision=review_labels[decision],
                    )
                )
elif not decides:
    st.caption(t("forecasts.cannot_decide"))

st.subheader(t("forecasts.learning"))
st.caption(
    t(
        "forecasts.learning_help",
        evidence=REVIEW_EVIDENCE,
        share=t.percent(REVIEW_CONSISTENT, 0),
        step=t.percent(REVIEW_STEP, 0),
    )
)
try:
    by_reviewer, by_category = ui.cached(data.review_learning)
except data.Unavailable as exc:
    st.info(ui.reason(exc))
else:
    if by_reviewer.empty:
        st.info(t("forecasts.learning_none", threshold=t.percent(REVIEW_BELOW, 0)))
    else:
        left, right = st.columns(2)
        left.caption(t("forecasts.by_reviewer"))
        with left:
            ui.table(by_reviewer, hide_index=True, width="stretch")
        right.caption(t("forecasts.by_category"))
        with right:
            ui.table(by_category, hide_index=True, width="stretch")

st.subheader(t("forecasts.suggestions"))
try:
    suggestions = ui.cached(data.suggestions)
except data.Unavailable as exc:
    st.info(ui.reason(exc))
    st.stop()
ui.table(suggestions, hide_index=True, width="stretch")
proposed = suggestions[suggestions["status"] == "proposed"]
if decides and not proposed.empty:
    with st.form("suggestion"):
        chosen = st.selectbox(
            t("forecasts.suggestion"), proposed["suggestion_id"].tolist(), key="suggestion_target"
        )
        suggestion_labels = {"approve": t("forecasts.approve"), "reject": t("forecasts.reject")}
        decision = st.radio(
            t("forecasts.decision"),
            list(suggestion_labels),
            format_func=suggestion_labels.get,
            horizontal=True,
            key="suggestion_decision",
        )
        approve = decision == "approve"
        reason = st.text_input(t("forecasts.reason_to_reject"), key="suggestion_reason")
        if st.form_submit_button(t("forecasts.record"), key="suggestion_submit"):
            try:
                row = data.decide_suggestion(settings, chosen, approve, ui.who(), role, reason)
            except data.Unavailable as exc:
                st.error(ui.reason(exc))
            except ValueError as exc:
                st.error(explain(exc, t))
            else:
                st.cache_data.clear()
                status = t.word("status", row["status"])
                if row["event_id"]:
                    st.success(
                        t(
                            "forecasts.suggestion_sent",
                            suggestion=chosen,
                            status=status,
                            event=row["event_id"],
                        )
                    )
                else:
                    st.success(t("forecasts.suggestion_recorded", suggestion=chosen, status=status))
