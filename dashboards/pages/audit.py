"""Audit trail: every decision, correction, close and export, hash-chained and verified."""

import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.AUDIT)
st.title("Audit trail")
verdict, entries = data.audit_trail(ui.settings())  # read fresh: tampering must show at once
a, b = st.columns([1, 3])
a.metric("Chain", "intact" if verdict.ok else "BROKEN")
if verdict.ok:
    b.caption(f"{verdict.entries:,} entries; last hash `{verdict.last_hash}` (keep a copy to anchor it).")
else:
    b.error(str(verdict))
actions = st.multiselect("Action", sorted(entries["action"].dropna().unique()), key="audit_actions")
shown = entries[entries["action"].isin(actions)] if actions else entries
ui.table(shown, hide_index=True, width="stretch")
