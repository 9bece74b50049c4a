"""The managers' dashboards: sign in with a named account, then the pages its role may see.

Run with `stockflow dashboard` (or as part of `stockflow up`)."""

import streamlit as st

from dashboards import ui
from stockflow.masking import Area, can_view

st.set_page_config(page_title="stockflow", page_icon="📦", layout="wide", initial_sidebar_state="expanded")

PAGES = [
    (Area.OVERVIEW, "pages/overview.py", "Overview", ":material/dashboard:"),
    (Area.STOCK, "pages/live_stock.py", "Live stock", ":material/inventory_2:"),
    (Area.STOCK, "pages/reconciliation.py", "Reconciliation", ":material/rule:"),
    (Area.ALERTS, "pages/alerts.py", "Alerts", ":material/notifications:"),
    (Area.COLD_CHAIN, "pages/cold_chain.py", "Cold chain", ":material/thermostat:"),
    (Area.FINANCE, "pages/finance.py", "Finance", ":material/account_balance:"),
    (Area.PLANNING, "pages/forecasts.py", "Forecasts & replenishment", ":material/insights:"),
    (Area.PLANNING, "pages/suppliers.py", "Suppliers", ":material/local_shipping:"),
    (Area.QUALITY, "pages/data_quality.py", "Data quality", ":material/fact_check:"),
    (Area.AUDIT, "pages/audit.py", "Audit trail", ":material/verified_user:"),
]

account = ui.account()
role = account.role if account else None
if role is None:
    page = st.navigation([st.Page(ui.sign_in_page, title="Sign in", icon=":material/login:")])
else:
    page = st.navigation(
        [st.Page(path, title=title, icon=icon) for area, path, title, icon in PAGES if can_view(role, area)]
    )
    with st.sidebar:
        st.caption(f"Signed in as **{account.name}** ({role.value})")
        if st.button("Sign out"):
            ui.sign_out()
            st.rerun()
page.run()
