"""Audit trail: every decision, correction, close and export, hash-chained and verified."""

import streamlit as st

from dashboards import data, ui
from stockflow.masking import Area

ui.require(Area.AUDIT)
t = ui.translator()
st.title(t("page.audit"))
verdict, entries = data.audit_trail(ui.settings())  # read fresh: tampering must show at once
a, b = st.columns([1, 3])
a.metric(t("audit.chain"), t("audit.intact") if verdict.ok else t("audit.broken"))
if verdict.ok:
    b.caption(t("audit.caption", entries=t.number(verdict.entries), hash=verdict.last_hash))
else:
    if verdict.position is None:
        b.error(t("audit.broken_reason", problem=verdict.problem))
    else:
        b.error(t("audit.broken_at", position=verdict.position, seq=verdict.seq, problem=verdict.problem))
actions = st.multiselect(t("audit.action"), sorted(entries["action"].dropna().unique()), key="audit_actions")
shown = entries[entries["action"].isin(actions)] if actions else entries
ui.table(shown, hide_index=True, width="stretch")
