"""Overview: the managers' KPIs, each with its trend and the period it is compared with."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.kpis import KPIS, Direction
from stockflow.masking import Area

ui.require(Area.OVERVIEW)
st.title("Overview")
days = st.radio("Compare", [7, 28], format_func=lambda d: f"last {d} days vs the {d} before", horizontal=True)

series: dict[str, pd.DataFrame] = {}
try:
    for key in KPIS:
        series[key] = ui.cached(data.kpi_series, key)
except data.Unavailable as exc:
    ui.unavailable(exc)

for i, (key, kpi) in enumerate(KPIS.items()):
    if i % 4 == 0:  # rows of four
        columns = st.columns(4)
    frame = series[key]
    comparison = data.kpi_comparison(frame, key, days)
    period = ""
    if comparison.current_period:
        (a, b), (c, d) = comparison.current_period, comparison.previous_period
        period = f" {a:%m-%d}–{b:%m-%d} vs {c:%m-%d}–{d:%m-%d}."
    with columns[i % 4]:
        st.metric(
            kpi.title,
            ui.fmt(kpi, comparison.current),
            delta=ui.fmt_change(kpi, comparison),
            delta_color={
                Direction.HIGHER_IS_BETTER: "normal",
                Direction.LOWER_IS_BETTER: "inverse",
                Direction.NEUTRAL: "off",
            }[kpi.direction],
            help=kpi.definition + period,
            chart_data=frame["value"].dropna().tail(2 * days).tolist(),
            chart_type="area",
            border=True,
        )

built = data.warehouse_built_at(ui.settings())
if built:
    st.caption(
        f"As of the warehouse build at {pd.Timestamp(built, unit='s', tz=ui.settings().timezone):%Y-%m-%d %H:%M}."
    )

st.subheader("Inventory value and stockout rate")
trend = series["inventory_value"][["day", "value"]].merge(
    series["stockout_rate"][["day", "value"]], on="day", how="outer", suffixes=("_value", "_stockout")
)
trend["day"] = pd.to_datetime(trend["day"])
base = alt.Chart(trend).encode(x=alt.X("day:T", title=None))
value = base.mark_area(opacity=0.3).encode(y=alt.Y("value_value:Q", title="inventory value (CNY)"))
stockout = base.mark_line(color="#d62728").encode(
    y=alt.Y("value_stockout:Q", title="stockout rate", axis=alt.Axis(format="%"))
)
st.altair_chart(alt.layer(value, stockout).resolve_scale(y="independent"), width="stretch")
