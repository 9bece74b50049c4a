"""Approvals: what the company's rules hold (held events, exports of personal data), and the
decision on each (the roles a rule names decide, never the person who asked where the rule
wants a second person; others look)."""

import pandas as pd
import streamlit as st

from dashboards import ui
from infra.worker_client import StockApiError, WorkerClient
from stockflow.masking import Area
from stockflow.services.approvals import ApprovalRefused, approve, list_approvals, reject
from stores.approvals import ApprovalFile
from stores.audit_log import AuditLog

role = ui.require(Area.APPROVALS)
t = ui.translator()
settings = ui.settings()
st.title(t("page.approvals"))
st.caption(t("approvals.caption"))

recorded = st.session_state.pop("approval_recorded", None)
if recorded:
    st.success(recorded)

queue = ApprovalFile(settings.approvals_path)  # read afresh: a decision shows on the next run
requests = list_approvals(queue)
if not requests:
    st.info(t("approvals.none"))
    st.stop()


def frame(rows: list) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "approval_id": r.approval_id,
                "status": t.word("status", r.status.value),
                "subject": t.word("subject", r.subject),
                "reference": r.event_id or ", ".join(sorted(r.data_classes)),
                "rule_id": r.rule_id,
                "message": r.message.text(t),
                "requested_by": r.requested_by,
                "requested_at": t.timestamp(r.requested_at, settings.tz),
                "decided_by": r.decided_by,
                "role": r.decided_role,
                "reason": r.decision_reason,
            }
            for r in rows
        ]
    )


pending = [r for r in requests if r.status.value == "pending"]
decided = [r for r in requests if r.status.value != "pending"]
st.subheader(t("approvals.pending_title"))
if pending:
    ui.table(frame(pending), hide_index=True, width="stretch")
    if not ui.may_decide(Area.APPROVALS):
        st.caption(t("approvals.cannot_decide"))
    else:
        by_id = {r.approval_id: r for r in pending}
        chosen = st.selectbox(
            t("approvals.choose"),
            list(by_id),
            format_func=lambda a: t(
                "approvals.choice",
                approval=a,
                subject=t.word("subject", by_id[a].subject),
                reference=by_id[a].event_id or ", ".join(sorted(by_id[a].data_classes)),
                requested_by=by_id[a].requested_by,
            ),
            key="approval_choice",
        )
        note = st.text_input(t("approvals.reason"), key="approval_note")
        left, right = st.columns(2)
        audit = AuditLog(settings.var_dir)
        try:
            if left.button(t("approvals.approve"), key="approval_approve"):
                done = approve(
                    queue, WorkerClient(settings.web_url, attempts=3), audit, chosen, ui.who(), role, note
                )
            elif right.button(t("approvals.reject"), key="approval_reject"):
                done = reject(queue, audit, chosen, ui.who(), role, note)
            else:
                done = None
        except ApprovalRefused as exc:
            st.error(str(exc) if not t.has(exc.key) else t(exc.key, **exc.fields))
        except StockApiError as exc:
            st.warning(t("approvals.publish_failed", error=str(exc)[:300]))
        else:
            if done is not None:
                st.session_state["approval_recorded"] = t(
                    "approvals.recorded",
                    approval=done.approval_id,
                    status=t.word("status", done.status.value),
                )
                st.rerun()
else:
    st.caption("—")

st.subheader(t("approvals.decided_title"))
if decided:
    ui.table(frame(decided), hide_index=True, width="stretch")
else:
    st.caption("—")
