"""Finance: the voucher journal, the trial balance, customers' receivables, exports."""

import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

SHOWN_LINES = 5000  # on screen; the download has every line

role = ui.require(Area.FINANCE)
st.title("Finance")
try:
    periods = ui.cached(data.periods)
except data.Unavailable as exc:
    ui.unavailable(exc)
if not periods:
    st.info("No vouchers posted yet.")
    st.stop()

left, middle, right = st.columns(3)
period = left.selectbox("Period", periods, key="finance_period")
unit = middle.selectbox("Set of books", ["all", *ui.cached(data.accounting_units)], key="finance_unit")
account = right.text_input("Account code starts with", key="finance_account").strip()
filters = (period, None if unit == "all" else unit, account or None)
summary = ui.cached(data.journal_summary, *filters)

tab_journal, tab_balance, tab_customers = st.tabs(["Voucher journal", "Trial balance", "Receivables"])
with tab_journal:
    a, b, c = st.columns(3)
    a.metric("Vouchers", f"{int(summary['vouchers']):,}")
    b.metric("Debit", f"¥{summary['debit']:,.2f}")
    c.metric("Credit", f"¥{summary['credit']:,.2f}")
    journal = ui.cached(data.voucher_journal, role, *filters, SHOWN_LINES)
    ui.table(journal, hide_index=True, width="stretch")
    st.caption(
        f"The newest {min(SHOWN_LINES, summary['lines']):,} of {summary['lines']:,} lines; the download has all."
    )
    settings = ui.settings()
    ui.download_csv(
        "Download the journal (CSV)",
        lambda: data.voucher_journal(settings, role, *filters),
        f"vouchers-{period}.csv",
        summary["lines"],
    )
with tab_balance:
    balance = data.masked(ui.cached(data.trial_balance, period, None if unit == "all" else unit), role)
    totals = ui.cached(data.trial_balance_totals, period, None if unit == "all" else unit)
    st.metric(
        "Debit = credit",
        "balanced" if totals["balanced"] else "NOT BALANCED",
        f"¥{totals['debit']:,.2f}",
        delta_color="off",
    )
    ui.table(balance, hide_index=True, width="stretch")
    ui.download_csv(
        "Download the trial balance (CSV)", lambda: balance, f"trial-balance-{period}.csv", len(balance)
    )
with tab_customers:
    st.caption("Contact details, and phone numbers anywhere on this page, are masked for your role.")
    # a plain table: thirty-odd customers read better as text than in a grid
    st.table(ui.cached(data.receivables, role).set_index("customer_id"))
