"""Live stock: positions straight from the stream workers, and a SKU's stock ledger."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.STOCK)
t = ui.translator()
settings = ui.settings()
st.title(t("page.live_stock"))
try:
    catalog = data.catalog(settings)
except data.Unavailable as exc:
    ui.unavailable(exc)

locations = sorted(catalog.locations)
left, middle, right = st.columns([2, 2, 1])
chosen = left.multiselect(t("stock.locations"), locations, default=locations[:1], key="stock_locations")
sku_filter = middle.text_input(t("stock.sku_filter"), key="stock_sku").strip().upper()
batch_filter = right.text_input(t("stock.batch"), key="stock_batch").strip()
TOTALS = {
    "on_hand": t("stock.on_hand"),
    "available": t("stock.available"),
    "reserved": t("stock.reserved"),
    "quarantined": t("stock.quarantined"),
    "in_transit": t("stock.in_transit"),
}


@st.fragment(run_every=settings.dashboard_refresh_seconds)
def positions() -> None:
    """Re-run every few seconds on its own: only this part of the page refreshes."""
    try:
        frame = data.live_stock(settings, chosen or locations)
    except data.Unavailable as exc:
        st.warning(ui.reason(exc))
        return
    if sku_filter:
        frame = frame[frame["sku"].str.upper().str.contains(sku_filter, regex=False)]
    if batch_filter:
        frame = frame[frame["batch"].str.contains(batch_filter, regex=False)]
    totals = st.columns(len(TOTALS))
    for column, (name, label) in zip(totals, TOTALS.items(), strict=True):
        column.metric(label, t.number(int(frame[name].sum())))
    st.caption(
        t(
            "stock.positions_caption",
            count=t.number(len(frame)),
            at=f"{pd.Timestamp.now(tz=settings.timezone):%H:%M:%S}",
            every=settings.dashboard_refresh_seconds,
        )
    )
    ui.table(frame, hide_index=True, width="stretch", key="stock_positions")


positions()

st.subheader(t("stock.ledger_title"))
skus = sorted(catalog.skus)
sku = st.selectbox(
    t("stock.sku"), skus, format_func=lambda s: f"{s} — {catalog.skus[s].name}", index=None, key="ledger_sku"
)
if sku:
    everywhere = t("stock.all_locations")
    location = st.selectbox(t("stock.at"), [everywhere, *locations], key="ledger_location")
    try:
        ledger = ui.cached(data.stock_ledger, sku, None if location == everywhere else location)
    except data.Unavailable as exc:
        ui.unavailable(exc)
    st.caption(t("stock.ledger_caption"))
    ui.table(ledger, hide_index=True, width="stretch")
    if not ledger.empty:
        chart = (
            alt.Chart(ledger)
            .mark_line(interpolate="step-after")
            .encode(
                x=alt.X("occurred_at:T", title=None, axis=ui.time_axis()),
                y=alt.Y("stock_value_after:Q", title=t("stock.axis_value_after")),
                color=alt.Color("location:N", title=t("column.location")),
            )
        )
        st.altair_chart(chart, width="stretch")
