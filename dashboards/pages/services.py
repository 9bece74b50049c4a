"""Services (服务), the no-stock edition's page: service orders and what is left of them,
deliveries with their revenue and VAT, customers' consumption per month, materials used."""

import pandas as pd
import streamlit as st

from dashboards import ui
from stockflow.masking import Area
from stores.services import ServiceItemsFile, ServiceRecords

ui.require(Area.SERVICES)
t = ui.translator()
settings = ui.settings()
st.title(t("page.services"))
st.caption(t("services.caption"))

records = ServiceRecords(settings.lake_dir)
lines = records.order_lines()
fulfilments = records.fulfilments()
if not lines and not fulfilments:
    st.info(t("services.none", items=len(ServiceItemsFile(settings.var_dir).load())))
    st.stop()

revenue = sum((f["net"] for f in fulfilments), 0)
vat = sum((f["vat"] for f in fulfilments), 0)
left = sum((line["left"] for line in lines if line["left"] > 0), 0)
cols = st.columns(3)
cols[0].metric(t("services.revenue"), t.money(revenue))
cols[1].metric(t("services.vat"), t.money(vat))
cols[2].metric(t("services.orders_open"), len({line["service_order"] for line in lines if line["left"] > 0}))
st.caption(t("services.units_left", units=t.number(left, 1)))

st.subheader(t("services.consumption_title"))
ui.table(pd.DataFrame(records.customer_consumption(settings.timezone)), hide_index=True, width="stretch")

st.subheader(t("services.orders_title"))
ui.table(
    pd.DataFrame(lines).drop(columns=["occurred_at"]) if lines else pd.DataFrame(),
    hide_index=True,
    width="stretch",
)

st.subheader(t("services.fulfilments_title"))
if fulfilments:
    shown = pd.DataFrame(fulfilments)[
        ["customer", "service_order", "line", "item", "qty", "unit", "net", "vat", "gross", "beyond_order",
         "delivered_by", "voucher_id"]
    ]  # fmt: skip
    ui.table(shown, hide_index=True, width="stretch")

consumptions = records.consumptions()
if consumptions:
    st.subheader(t("services.materials_title"))
    used = pd.DataFrame(consumptions)[["customer", "service_order", "material", "qty", "unit", "cost"]]
    ui.table(used, hide_index=True, width="stretch")
