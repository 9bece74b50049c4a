"""The managers' dashboards: sign in with a named account, then the pages its role may see, in
the company's language or the one the person picks on the sidebar.

Run with `stockflow dashboard` (or as part of `stockflow up`)."""

import streamlit as st

from dashboards import ui
from stockflow.editions import edition_areas
from stockflow.masking import Area, can_view

st.set_page_config(page_title="stockflow", page_icon="📦", layout="wide", initial_sidebar_state="expanded")
t = ui.translator()

PAGES = [
    (Area.OVERVIEW, "pages/overview.py", t("page.overview"), ":material/dashboard:"),
    (Area.STOCK, "pages/live_stock.py", t("page.live_stock"), ":material/inventory_2:"),
    (Area.STOCK, "pages/reconciliation.py", t("page.reconciliation"), ":material/rule:"),
    (Area.STOCK, "pages/recipe_variance.py", t("page.recipe_variance"), ":material/scale:"),
    (Area.ALERTS, "pages/alerts.py", t("page.alerts"), ":material/notifications:"),
    (Area.COLD_CHAIN, "pages/cold_chain.py", t("page.cold_chain"), ":material/thermostat:"),
    (Area.FINANCE, "pages/finance.py", t("page.finance"), ":material/account_balance:"),
    (Area.FINANCE, "pages/ageing.py", t("page.ageing"), ":material/hourglass_bottom:"),
    (Area.FINANCE, "pages/dishes.py", t("page.dishes"), ":material/restaurant_menu:"),
    (Area.PLANNING, "pages/forecasts.py", t("page.forecasts"), ":material/insights:"),
    (Area.PLANNING, "pages/suppliers.py", t("page.suppliers"), ":material/local_shipping:"),
    (Area.PLANNING, "pages/production.py", t("page.production"), ":material/precision_manufacturing:"),
    (Area.QUALITY, "pages/data_quality.py", t("page.data_quality"), ":material/fact_check:"),
    (Area.QUALITY, "pages/trace.py", t("page.trace"), ":material/timeline:"),
    (Area.AUDIT, "pages/audit.py", t("page.audit"), ":material/verified_user:"),
    (Area.MASTER_DATA, "pages/master_data.py", t("page.master_data"), ":material/database:"),
    (Area.CONFLICTS, "pages/conflicts.py", t("page.conflicts"), ":material/merge_type:"),
    (Area.DEVICES, "pages/devices.py", t("page.devices"), ":material/sensors:"),
    (Area.APPROVALS, "pages/approvals.py", t("page.approvals"), ":material/approval:"),
    (Area.SERVICES, "pages/services.py", t("page.services"), ":material/handshake:"),
]
#: The pages of this edition's areas only (the no-stock edition has no stock page at all).
AREAS = edition_areas(ui.settings().edition)

account = ui.account()
role = account.role if account else None
if role is None:
    page = st.navigation([st.Page(ui.sign_in_page, title=t("sign_in.title"), icon=":material/login:")])
else:
    page = st.navigation(
        [
            st.Page(path, title=title, icon=icon)
            for area, path, title, icon in PAGES
            if area in AREAS and can_view(role, area)
        ],
        expanded=True,  # every page listed (Streamlit hides those after the tenth of more than twelve)
    )
    with st.sidebar:
        st.caption(t("ui.signed_in_as", name=account.name, role=ui.role_name(role)))
        ui.language_switch()
        if st.button(t("ui.sign_out")):
            ui.sign_out()
            st.rerun()
page.run()
