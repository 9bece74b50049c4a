"""Ageing: what the books owe each supplier and what each customer owes, by the age of the
documents (the warehouse's ageing marts)."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.FINANCE)
t = ui.translator()
st.title(t("page.ageing"))
try:
    subledgers = {kind: ui.cached(data.ageing, kind) for kind in ("supplier", "customer")}
except data.Unavailable as exc:
    ui.unavailable(exc)
if all(frame.empty for frame in subledgers.values()):
    st.info(t("ageing.no_open_items"))
    st.stop()

AMOUNTS = [*data.AGEING_BUCKETS, "total"]
BUCKETS = {bucket: t(f"column.{bucket}") for bucket in data.AGEING_BUCKETS}
as_of = next(frame["as_of_date"].iloc[0] for frame in subledgers.values() if not frame.empty)
st.caption(t("ageing.caption", as_of=t.day(pd.Timestamp(as_of).date())))


def bucket_chart(totals: pd.Series) -> alt.Chart:
    """One bar per bucket: the open amount of every party together."""
    bars = pd.DataFrame({"bucket": list(BUCKETS.values()), "amount": [totals[b] for b in BUCKETS]})
    return (
        alt.Chart(bars)
        .mark_bar()
        .encode(
            x=alt.X(
                "bucket:N",
                sort=list(BUCKETS.values()),
                title=t("ageing.axis_bucket"),
                axis=alt.Axis(labelAngle=0),  # four short labels read across
            ),
            y=alt.Y("amount:Q", title=t("ageing.axis_amount")),
            color=alt.condition(alt.datum.amount < 0, alt.value("#4c9a2a"), alt.value("#3b6ea5")),
            tooltip=[
                alt.Tooltip("bucket:N", title=t("ageing.axis_bucket")),
                alt.Tooltip("amount:Q", title=t("ageing.axis_amount"), format=",.2f"),
            ],
        )
    )


def party_table(frame: pd.DataFrame, party_kind: str) -> None:
    """Per party (its column named for the kind), the buckets and the total, then the totals."""
    table = ui.shown(frame.rename(columns={"party": party_kind}))
    table.loc[table["is_total"], [party_kind, "accounting_unit"]] = [t("ageing.total_row"), ""]
    labelled = ui.labelled(table[[party_kind, "accounting_unit", *AMOUNTS]].set_index(party_kind))
    money = [t(f"column.{c}") for c in AMOUNTS]
    # a plain table: every party and amount is text on the page, the totals row last
    st.table(labelled.style.format(t.money, subset=money))


TABS = {
    "supplier": ("ageing.tab_payables", "ageing.payables_open", "ageing.none_payable"),
    "customer": ("ageing.tab_receivables", "ageing.receivables_open", "ageing.none_receivable"),
}
tabs = st.tabs([t(tab) for tab, _, _ in TABS.values()])
for tab, (kind, (_, open_label, none)) in zip(tabs, TABS.items(), strict=True):
    with tab:
        frame = subledgers[kind]
        if frame.empty:
            st.info(t(none))
            continue
        totals = frame[frame["is_total"]].iloc[0]
        left, right = st.columns(2)
        left.metric(t(open_label), t.money(totals["total"]))
        right.metric(t("ageing.over_90"), t.money(totals["bucket_over_90"]))
        st.altair_chart(bucket_chart(totals), width="stretch")
        party_table(frame, kind)
