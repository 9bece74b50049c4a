"""Finance: the voucher journal, the trial balance, customers' receivables, exports."""

import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

SHOWN_LINES = 5000  # on screen; the download has every line

role = ui.require(Area.FINANCE)
t = ui.translator()
st.title(t("page.finance"))
try:
    periods = ui.cached(data.periods)
except data.Unavailable as exc:
    ui.unavailable(exc)
if not periods:
    st.info(t("finance.no_vouchers"))
    st.stop()

ALL = "*"  # every set of books
left, middle, right = st.columns(3)
period = left.selectbox(t("finance.period"), periods, key="finance_period")
unit = middle.selectbox(
    t("finance.books"),
    [ALL, *ui.cached(data.accounting_units)],
    format_func=lambda u: t("common.all") if u == ALL else u,
    key="finance_unit",
)
account = right.text_input(t("finance.account_prefix"), key="finance_account").strip()
books = None if unit == ALL else unit
filters = (period, books, account or None)
summary = ui.cached(data.journal_summary, *filters)

tab_journal, tab_balance, tab_customers = st.tabs(
    [t("finance.tab_journal"), t("finance.tab_balance"), t("finance.tab_receivables")]
)
with tab_journal:
    a, b, c = st.columns(3)
    a.metric(t("finance.vouchers"), t.number(int(summary["vouchers"])))
    b.metric(t("finance.debit"), t.money(summary["debit"]))
    c.metric(t("finance.credit"), t.money(summary["credit"]))
    journal = ui.cached(data.voucher_journal, role, *filters, SHOWN_LINES)
    ui.table(journal, hide_index=True, width="stretch")
    st.caption(
        t(
            "finance.journal_caption",
            shown=t.number(min(SHOWN_LINES, summary["lines"])),
            lines=t.number(summary["lines"]),
        )
    )
    settings = ui.settings()
    ui.download_csv(
        t("finance.download_journal"),
        lambda: data.voucher_journal(settings, role, *filters),
        f"vouchers-{period}.csv",
        summary["lines"],
    )
with tab_balance:
    balance = data.masked(ui.cached(data.trial_balance, period, books), role)
    totals = ui.cached(data.trial_balance_totals, period, books)
    st.metric(
        t("finance.debit_equals_credit"),
        t("finance.balanced") if totals["balanced"] else t("finance.not_balanced"),
        t.money(totals["debit"]),
        delta_color="off",
    )
    ui.table(balance, hide_index=True, width="stretch")
    ui.download_csv(
        t("finance.download_balance"), lambda: balance, f"trial-balance-{period}.csv", len(balance)
    )
with tab_customers:
    st.caption(t("finance.masked_caption"))
    # a plain table: thirty-odd customers read better as text than in a grid
    st.table(ui.labelled(ui.cached(data.receivables, role).set_index("customer_id")))
