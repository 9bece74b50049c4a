"""Recipe variance (理论用量与实际用量): per store, ingredient and count, what the kitchen used
(counts and movements) against what its recipes say it should have; stores whose usage strays
by more than the quality limit are marked."""

import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area
from stockflow.quality import recipe_variance_share

ui.require(Area.STOCK)
t = ui.translator()
st.title(t("page.recipe_variance"))
settings = ui.settings()
DAYS = settings.recipe_variance_days
try:
    counts = ui.cached(data.ingredient_variance, DAYS)
except data.Unavailable as exc:
    ui.unavailable(exc)
if counts.empty:
    st.info(t("variance.none"))
    st.stop()
limit = settings.recipe_variance_limit
st.caption(t("variance.caption", days=DAYS, limit=t.percent(float(limit))))

stores = []
for location, group in counts.groupby("location_id", sort=True):
    share = recipe_variance_share(
        zip(
            group.groupby("sku_id")["variance_value"].sum(),
            group.groupby("sku_id")["theoretical_value"].sum(),
            strict=True,
        )
    )
    stores.append((location, share, share is not None and share > limit))
flagged = [location for location, _, over in stores if over]
if flagged:
    st.warning(t("variance.flagged", stores=", ".join(flagged), limit=t.percent(float(limit))))
else:
    st.success(t("variance.within", limit=t.percent(float(limit))))
for column, (location, share, over) in zip(st.columns(len(stores)), stores, strict=True):
    column.metric(
        location,
        t.percent(float(share)) if share is not None else "–",
        delta=t("variance.over") if over else None,
        delta_color="inverse",
    )

COLUMNS = [
    "business_date", "location_id", "sku_id", "opening_qty", "net_other", "closing_qty",
    "theoretical_usage", "actual_usage", "variance_qty", "variance_pct", "recorded_waste", "variance_value",
]  # fmt: skip
table = counts[COLUMNS].copy()
table["variance_pct"] = [
    t.percent(float(v)) if v == v and v is not None else "–" for v in table["variance_pct"]
]
table["variance_value"] = [t.money(v) for v in table["variance_value"]]


def marked(row):  # noqa: ANN001, ANN202
    """The rows of a store above the limit, shaded."""
    over = row[t("column.location_id")] in flagged
    return ["background-color: #fde2e1" if over else "" for _ in row]


st.subheader(t("variance.by_count"))
st.dataframe(ui.labelled(ui.shown(table)).style.apply(marked, axis=1), hide_index=True)
