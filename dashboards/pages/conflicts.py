"""Conflicts: late documents from a store's edge agent that collided with the central books,
both sides of each, and the decision on it (managers and the warehouse decide; finance and
auditors look)."""

import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.events import ConflictDecision
from stockflow.masking import Area
from stockflow.services.conflicts import ConflictRefused

role = ui.require(Area.CONFLICTS)
t = ui.translator()
settings = ui.settings()
st.title(t("page.conflicts"))
st.caption(t("conflicts.caption"))
decides = ui.may_decide(Area.CONFLICTS)

recorded = st.session_state.pop("conflict_recorded", None)
if recorded:
    st.success(recorded)

frame = data.conflicts(settings)  # read afresh: a decision shows on the next run
if frame.empty:
    st.info(t("conflicts.none"))
    st.stop()

open_ones = frame[frame["status"] == "open"]
decided = frame[frame["status"] == "decided"]
left, right = st.columns(2)
left.metric(t("conflicts.open_count"), t.number(len(open_ones)))
right.metric(t("conflicts.decided_count"), t.number(len(decided)))

FOUND = [
    "detected_at", "kind", "location", "sku", "batch", "event_type", "event_id", "edge", "occurred_at",
    "on_hand_delta", "on_hand_after", "suggested_on_hand", "reference", "conflict_id",
]  # fmt: skip
st.subheader(t("conflicts.open_title"))
if open_ones.empty:
    st.info(t("conflicts.none_open"))
else:
    ui.table(open_ones[FOUND], hide_index=True, width="stretch")


def both_sides(row: pd.Series) -> None:
    """What the store did, and what the books did meanwhile, in the reader's language."""
    fields = {
        "edge": row["edge"], "source": row["source"], "event_type": row["event_type"],
        "event_id": row["event_id"],
        "occurred_at": t.timestamp(row["occurred_at"], settings.timezone),
        "on_hand_delta": int(row["on_hand_delta"]), "on_hand_after": int(row["on_hand_after"]),
        "reference": row["reference"] or "-",
    }  # fmt: skip
    unbooked = row["kind"] in ("refused", "document_changed")
    st.markdown(t("conflicts.store_side_unbooked" if unbooked else "conflicts.store_side", **fields))
    central = f"conflicts.central.{row['kind']}"
    if row["kind"] == "counted_meanwhile" and not row["suggested_on_hand"]:
        central = "conflicts.central.counted_meanwhile_pending"  # the count's book took it in
    st.markdown(t(central, reference=row["reference"] or "-", suggested=int(row["suggested_on_hand"])))


if not open_ones.empty:
    if decides:
        st.subheader(t("conflicts.decide_title"))
    rows = {r["conflict_id"]: r for _, r in open_ones.iterrows()}
    chosen = st.selectbox(
        t("conflicts.choose"),
        list(rows),
        format_func=lambda c: t(
            "conflicts.choice",
            kind=t.word("kind", rows[c]["kind"]),
            location=rows[c]["location"],
            sku=rows[c]["sku"],
            event_type=rows[c]["event_type"],
            event_id=rows[c]["event_id"],
        ),
        key="conflict_choice",
    )
    row = rows[chosen]
    both_sides(row)
    if not decides:
        st.caption(t("conflicts.cannot_decide"))
    else:
        with st.form("conflict_decision"):
            decision = st.radio(
                t("conflicts.decision"),
                [d.value for d in ConflictDecision],
                format_func=lambda d: t.word("decision", d),
                horizontal=True,
                key="conflict_decision",
            )
            adjustment = st.number_input(
                t("conflicts.adjustment"),
                value=int(row["suggested_on_hand"]),
                step=1,
                key="conflict_adjustment",
            )
            note = st.text_input(t("conflicts.note"), key="conflict_note")
            if st.form_submit_button(t("conflicts.record"), key="conflict_submit"):
                try:
                    event = data.decide_conflict(
                        settings, chosen, decision, ui.who(), role, note, int(adjustment)
                    )
                except ConflictRefused as exc:
                    st.error(t(f"conflicts.refused.{exc.reason}"))
                except data.Unavailable as exc:
                    st.error(ui.reason(exc))
                else:
                    st.session_state["conflict_recorded"] = t(
                        "conflicts.recorded",
                        conflict=chosen,
                        decision=t.word("decision", event.decision.value),
                        on_hand=event.on_hand,
                    )
                    st.rerun()

st.subheader(t("conflicts.decided_title"))
DECIDED = [
    "decided_at", "kind", "location", "sku", "batch", "event_type", "event_id", "edge",
    "on_hand_delta", "decision", "decided_on_hand", "decided_by", "role", "note", "conflict_id",
]  # fmt: skip
if decided.empty:
    st.caption("—")
else:
    ui.table(decided[DECIDED], hide_index=True, width="stretch")
