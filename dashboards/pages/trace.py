"""Recall trace (批次追溯): a batch code → where the batch came from (receipts with supplier,
purchase order and temperature curve, inspections, holds) and everywhere it went (movements,
in, out and on hand per location), and the batches made from it, read from the lake."""

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboards import ui
from stockflow.masking import Area
from stockflow.masterdata import Catalog
from stockflow.services.trace import gsp_reports, trace_batch
from stockflow.trace import Flow
from stores.trace import LakeTrace

ui.require(Area.QUALITY)
t = ui.translator()
st.title(t("page.trace"))
left, right = st.columns([2, 1])
batch = left.text_input(t("trace.batch_input"), key="trace_batch").strip()
sku = right.text_input(t("trace.sku_input"), key="trace_sku").strip()
if not batch:
    st.info(t("trace.hint"))
    st.stop()


@st.cache_data(ttl=60, show_spinner=False)
def traced(lake: str, batch: str, sku: str):
    """The trace, kept a minute per lake, batch and SKU (a recall asks the same batch again)."""
    return trace_batch(LakeTrace(Path(lake)), batch, sku or None)


@st.cache_data(ttl=60, show_spinner=False)
def gsp(lake: str, masterdata: str, batch: str, sku: str):
    """The GSP reports of the batches asked for, kept a minute like the trace."""
    settings = ui.settings()
    reports = gsp_reports(
        LakeTrace(Path(lake)),
        Catalog.load(Path(masterdata)),
        batch,
        sku or None,
        settings.excursion_minutes,
        settings.curve_max_gap_minutes,
    )
    return {r.key: r for r in reports}


trace = traced(str(ui.settings().lake_dir), batch, sku)
if not trace.found:
    st.info(t("trace.not_found", batch=batch))
    st.stop()
tz = ui.settings().tz


def when(moment) -> str:
    return t.timestamp(moment, tz) if moment else ""


def show(rows: list[dict]) -> None:
    if rows:
        ui.table(pd.DataFrame(rows), hide_index=True, use_container_width=True)


for b in trace.batches:
    key = b.key
    if b.depth:
        st.header(t("trace.made_heading", sku=key.sku, batch=key.batch, depth=b.depth))
    else:
        st.header(t("trace.batch_heading", sku=key.sku, batch=key.batch))
    first, second, third, fourth, fifth = st.columns(5)
    first.metric(t("trace.inflow"), t.number(b.total.inflow))
    second.metric(t("trace.locations"), t.number(len(b.balances)))
    third.metric(t("trace.tickets"), t.number(len(b.steps_in(Flow.SOLD))))
    fourth.metric(t("trace.customers"), t.number(len(b.customers)))
    fifth.metric(t("trace.on_hand"), t.number(b.total.on_hand))

    st.subheader(t("trace.backward"))
    if not b.receipts and not b.made_from:
        st.caption(t("trace.no_receipt"))
    show([
        {"occurred_at": when(r.occurred_at), "location": r.location, "supplier": r.supplier,
         "purchase_order": r.purchase_order, "quantity": r.qty, "quarantined": r.quarantined,
         "expiry_date": r.expiry_date, "curve": r.curve.summary() if r.curve else "", "event_id": r.event_id}
        for r in b.receipts
    ])  # fmt: skip
    show([
        {"occurred_at": when(m.occurred_at), "location": m.location, "made_from": f"{m.parent.sku}/{m.parent.batch}",
         "via": t.word("via", m.via.value), "reference": m.reference, "quantity": m.qty, "event_id": m.event_id}
        for m in b.made_from
    ])  # fmt: skip
    show([
        {"occurred_at": when(i.occurred_at), "location": i.location, "inspection_id": i.inspection_id,
         "verdict": i.verdict, "cartons": i.cartons, "damaged_cartons": i.damaged_cartons, "event_id": i.event_id}
        for i in b.inspections
    ])  # fmt: skip
    show([
        {"occurred_at": when(q.occurred_at), "location": q.location, "action": t.word("trace_action", q.action),
         "quantity": q.qty, "reason": q.reason, "event_id": q.event_id}
        for q in b.quality
    ])  # fmt: skip

    report = gsp(str(ui.settings().lake_dir), str(ui.settings().masterdata_path), batch, sku).get(key)
    if report is not None and report.cold_chain:
        st.subheader(t("trace.gsp", low=report.low_c, high=report.high_c))
        if report.findings:
            st.warning(t("cli.gsp.findings", count=len(report.findings), items="; ".join(report.findings)))
        else:
            st.success(t("cli.gsp.clean", sku=key.sku, batch=key.batch))
        show([
            {"occurred_at": when(a.occurred_at), "location": a.location,
             "event_type": t.word("event_type", a.event_type), "quantity": a.qty,
             "curve": a.curve.summary() if a.curve else t("cli.trace.no_curve"), "readings": len(a.points),
             "minutes_outside": round(a.check.minutes_outside, 1),
             "longest_gap_minutes": round(a.check.longest_gap_minutes, 1),
             "verdict": t.word("curve_check", a.check.reason or "clear"), "event_id": a.event_id}
            for a in report.arrivals
        ])  # fmt: skip
        curves = [
            pd.Series([c for _, c in a.points], index=[at for at, _ in a.points], name=a.event_id)
            for a in report.arrivals
            if a.points
        ]
        if curves:
            st.line_chart(pd.concat(curves, axis=1), y_label=t("column.celsius"))
        show([
            {"started_at": when(e.started_at), "location": e.location, "sensor": e.sensor, "minutes": e.minutes,
             "peak_c": e.peak_c, "alert_id": e.alert_id}
            for e in report.excursions
        ])  # fmt: skip

    st.subheader(t("trace.forward"))
    show([
        {"occurred_at": when(s.occurred_at), "location": s.location, "flow": t.word("flow", s.flow.value),
         "quantity": s.qty, "counterparty": s.counterparty, "reference": s.reference, "dish": s.dish,
         "event_id": s.event_id}
        for s in b.steps
    ])  # fmt: skip
    st.subheader(t("trace.balances"))
    show([
        {"location": bal.location or t("cli.trace.all_locations"), **{f.value: bal.qty(f) for f in Flow},
         "on_hand": bal.on_hand, "quarantined": bal.quarantined, "in_transit": bal.in_transit}
        for bal in (*b.balances, b.total)
    ])  # fmt: skip
if trace.not_followed:
    st.caption(t("trace.not_followed", batches=", ".join(f"{k.sku}/{k.batch}" for k in trace.not_followed)))
