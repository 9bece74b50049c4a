"""Overview: the managers' KPIs, each with its trend and the period it is compared with."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.kpis import KPIS, Direction
from stockflow.masking import Area

ui.require(Area.OVERVIEW)
t = ui.translator()
st.title(t("page.overview"))
days = st.radio(
    t("overview.compare"), [7, 28], format_func=lambda d: t("overview.compare_days", days=d), horizontal=True
)

series: dict[str, pd.DataFrame] = {}
left_out: dict[str, float] = {}  # what the live-only KPIs left out of the current period
try:
    for key in KPIS:
        series[key] = ui.cached(data.kpi_series_with_excluded, key)
except data.Unavailable as exc:
    ui.unavailable(exc)

for i, (key, kpi) in enumerate(KPIS.items()):
    if i % 4 == 0:  # rows of four
        columns = st.columns(4)
    frame = series[key]
    comparison = data.kpi_comparison(frame, key, days)
    if kpi.live_only:
        left_out[key] = comparison.excluded or 0
    definition = ui.kpi_definition(kpi)
    if comparison.current_period:
        (a, b), (c, d) = comparison.current_period, comparison.previous_period
        definition = t(
            "overview.kpi_help",
            definition=definition,
            current=f"{a:%m-%d}–{b:%m-%d}",
            previous=f"{c:%m-%d}–{d:%m-%d}",
        )
    with columns[i % 4]:
        st.metric(
            ui.kpi_title(kpi),
            ui.fmt(kpi, comparison.current),
            delta=ui.fmt_change(kpi, comparison),
            delta_color={
                Direction.HIGHER_IS_BETTER: "normal",
                Direction.LOWER_IS_BETTER: "inverse",
                Direction.NEUTRAL: "off",
            }[kpi.direction],
            help=definition,
            chart_data=frame["value"].dropna().tail(2 * days).tolist(),
            chart_type="area",
            border=True,
        )

if left_out:
    st.caption(
        t(
            "overview.live_only",
            events=t.number(left_out.get("data_freshness", 0)),
            vouchers=t.number(left_out.get("voucher_lag", 0)),
        )
    )
built = data.warehouse_built_at(ui.settings())
if built:
    st.caption(
        t(
            "overview.as_of",
            built=f"{pd.Timestamp(built, unit='s', tz=ui.settings().timezone):%Y-%m-%d %H:%M}",
        )
    )

st.subheader(t("overview.trend"))
trend = series["inventory_value"][["day", "value"]].merge(
    series["stockout_rate"][["day", "value"]], on="day", how="outer", suffixes=("_value", "_stockout")
)
trend["day"] = pd.to_datetime(trend["day"])
base = alt.Chart(trend).encode(x=alt.X("day:T", title=None, axis=ui.time_axis()))
value = base.mark_area(opacity=0.3).encode(y=alt.Y("value_value:Q", title=t("overview.axis_value")))
stockout = base.mark_line(color="#d62728").encode(
    y=alt.Y("value_stockout:Q", title=t("overview.axis_stockout"), axis=alt.Axis(format="%"))
)
st.altair_chart(alt.layer(value, stockout).resolve_scale(y="independent"), width="stretch")
