"""Data quality: the latest expectation results and master-data completeness per SKU."""

import altair as alt
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.QUALITY)
t = ui.translator()
st.title(t("page.data_quality"))
try:
    run, results = ui.cached(data.quality_results)
    completeness = ui.cached(data.sku_completeness)
except data.Unavailable as exc:
    ui.unavailable(exc)

latest = run.iloc[0]
a, b, c, d = st.columns(4)
a.metric(t("quality.latest"), t("quality.passed") if latest["success"] else t("quality.failed"))
b.metric(t("quality.critical"), int(latest["critical_failures"]))
c.metric(t("quality.warnings"), int(latest["warnings"]))
d.metric(t("quality.described"), t.percent((completeness["completeness"] >= 1).mean(), 0))
st.caption(
    t(
        "quality.checked",
        at=f"{latest['checked_at']:%Y-%m-%d %H:%M}",
        took=t("unit.seconds", value=t.number(latest["seconds"], 1)),
    )
)

st.subheader(t("quality.expectations"))
ui.table(results, hide_index=True, width="stretch")

st.subheader(t("quality.completeness"))
chart = completeness.assign(gtin_valid=completeness["gtin_valid"].map(t.yes_no))
st.altair_chart(
    alt.Chart(chart)
    .mark_bar()
    .encode(
        x=alt.X(
            "completeness:Q",
            title=t("column.completeness"),
            axis=alt.Axis(format="%"),
            scale=alt.Scale(domain=[0, 1]),
        ),
        y=alt.Y("sku_id:N", sort="x", title=None),
        color=alt.Color("gtin_valid:N", title=t("column.gtin_valid")),
    ),
    width="stretch",
)
