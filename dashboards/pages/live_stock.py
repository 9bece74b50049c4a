"""Live stock: positions straight from the stream workers, and a SKU's stock ledger."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.STOCK)
settings = ui.settings()
st.title("Live stock")
try:
    catalog = data.catalog(settings)
except data.Unavailable as exc:
    ui.unavailable(exc)

locations = sorted(catalog.locations)
left, middle, right = st.columns([2, 2, 1])
chosen = left.multiselect("Locations", locations, default=locations[:1], key="stock_locations")
sku_filter = middle.text_input("SKU (or part of it)", key="stock_sku").strip().upper()
batch_filter = right.text_input("Batch", key="stock_batch").strip()


@st.fragment(run_every=settings.dashboard_refresh_seconds)
def positions() -> None:
    """Re-run every few seconds on its own: only this part of the page refreshes."""
    try:
        frame = data.live_stock(settings, chosen or locations)
    except data.Unavailable as exc:
        st.warning(str(exc))
        return
    if sku_filter:
        frame = frame[frame["sku"].str.upper().str.contains(sku_filter, regex=False)]
    if batch_filter:
        frame = frame[frame["batch"].str.contains(batch_filter, regex=False)]
    totals = st.columns(5)
    for column, name in zip(
        totals, ["on_hand", "available", "reserved", "quarantined", "in_transit"], strict=True
    ):
        column.metric(name.replace("_", " ").capitalize(), f"{int(frame[name].sum()):,}")
    st.caption(
        f"{len(frame):,} positions (location × SKU × batch), read from the stream at "
        f"{pd.Timestamp.now(tz=settings.timezone):%H:%M:%S}; refreshes every {settings.dashboard_refresh_seconds} s."
    )
    ui.table(frame, hide_index=True, width="stretch", key="stock_positions")


positions()

st.subheader("Stock ledger of a SKU")
skus = sorted(catalog.skus)
sku = st.selectbox(
    "SKU", skus, format_func=lambda s: f"{s} — {catalog.skus[s].name}", index=None, key="ledger_sku"
)
if sku:
    location = st.selectbox("At", ["all locations", *locations], key="ledger_location")
    try:
        ledger = ui.cached(data.stock_ledger, sku, None if location == "all locations" else location)
    except data.Unavailable as exc:
        ui.unavailable(exc)
    st.caption("Movements valued by the books, as of the last warehouse build (newest first).")
    ui.table(ledger, hide_index=True, width="stretch")
    if not ledger.empty:
        chart = (
            alt.Chart(ledger)
            .mark_line(interpolate="step-after")
            .encode(
                x=alt.X("occurred_at:T", title=None),
                y=alt.Y("stock_value_after:Q", title="stock value after (CNY)"),
                color="location:N",
            )
        )
        st.altair_chart(chart, width="stretch")
