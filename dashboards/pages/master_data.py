"""Master data (主数据): SKUs with how complete each record is, locations, suppliers, customers,
other systems' codes (aliases), exchange rates, recipes (every version, and the components
of the one chosen) and bills of materials (every version, and the lines, substitutes and routing
of the one chosen), as the signed-in role may see them. The roles
that change master data edit a SKU's record, move a SKU along its lifecycle, set and remove
aliases, and import files after a dry run that shows every problem before anything is written.

Every change goes through the core's one use case (`stockflow.services.masterdata`) under the
signed-in person's name. Actions run as the buttons' callbacks, before the page is drawn, so
every table on the page already shows what they changed."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import data, ui
from stockflow.i18n import Language, Message
from stockflow.masking import Area
from stockflow.masterdata import (
    SKU_TRANSITIONS,
    VAT_RATES,
    NegativeStockPolicy,
    Sku,
    SkuStatus,
    ValuationMethod,
)
from stockflow.masterdata_changes import RemoveAlias, SetStatus, completeness
from stockflow.masterdata_import import SheetTable, format_packs, prepare_import

role = ui.require(Area.MASTER_DATA)
t = ui.translator()
edits = ui.may_decide(Area.MASTER_DATA)
catalog = data.masterdata(ui.settings())
SKU_FIELD = "md_sku_{}"  # the SKU form's widgets, by the record's field
DONE = "md_done_{}"  # what an action did, by section, for the run that draws the page
CHECKED = "md_import_checked"  # the last check of uploaded files: which files, what it found


# ----------------------------------------------------------------------------- words
def status_word(status: str) -> str:
    return t.word("status", status)


def field_name(name: str) -> str:
    return t.get(f"column.{name}", name)


def listing(words: list[str]) -> str:
    return ("、" if t.language is Language.ZH_CN else ", ").join(words)


def problem_text(problem: Any) -> str:
    """A refusal in the reader's language, the status words and field names in it too."""
    fields = dict(problem.message.fields)
    if problem.message.key in ("masterdata.problem.status_move", "masterdata.problem.status_via_upsert"):
        for name in ("current", "wanted"):
            if isinstance(fields.get(name), str):
                fields[name] = status_word(fields[name])
        if isinstance(fields.get("allowed"), str) and fields["allowed"] != "-":
            fields["allowed"] = listing([status_word(s) for s in fields["allowed"].split(", ")])
    if isinstance(fields.get("field"), str):
        fields["field"] = field_name(fields["field"])
    return t(problem.message.key, **fields)


def form_problem_text(problem: Any) -> str:
    """A problem of a record typed into a form: the field's label, then why (a column it names
    by its label too)."""
    column = problem.message.fields.get("column")
    if isinstance(column, str):
        fields = {**problem.message.fields, "column": field_name(column)}
        problem = replace(problem, message=Message(problem.message.key, **fields))
    text = problem_text(problem)
    label = field_name(problem.column) if problem.column else ""
    return f"{label}: {text}" if label and label not in text else text


def read_form(entity: str, record: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """A record typed into a form, read as a one-row table by the import's rules (the same
    cells, rules and messages as a file's): its proposals, or why it cannot be made."""
    table = SheetTable(file="form", rows=[(1, list(record)), (2, list(record.values()))], entity=entity)
    prepared = prepare_import(data.masterdata(ui.settings()), [table], entity)
    return prepared.proposals, [form_problem_text(p) for p in prepared.problems]


# ----------------------------------------------------------------------------- actions
def remember(section: str, kind: str, key: str, lines: list[str] | None = None, **fields: Any) -> None:
    st.session_state[DONE.format(section)] = (kind, key, fields, lines or [])


def show_outcome(section: str) -> None:
    """What the last action of a section did: a success, a notice, or the problems that stopped it."""
    done = st.session_state.get(DONE.format(section))
    if done is None:
        return
    kind, key, fields, lines = done
    text = t(key, **fields)
    if lines:
        text += "\n\n" + "\n".join(f"- {line}" for line in lines)
    getattr(st, kind)(text)


def change(section: str, proposals: list[Any], reason: str, saved: str, **fields: Any) -> bool:
    """Make `proposals` through the core as the signed-in person; whether anything changed."""
    current = ui.account()
    if current is None or not ui.may_decide(Area.MASTER_DATA):
        remember(section, "error", "ui.role_may_not_see")
        return False
    try:
        result = data.change_masterdata(ui.settings(), proposals, current.name, current.role, reason)
    except data.Unavailable as exc:  # recorded; the stream workers did not take it
        remember(section, "warning", exc.key, **exc.fields)
        return True
    if not result.ok:
        remember(section, "error", "master_data.refused", [problem_text(p) for p in result.problems])
        return False
    if not result.changes:
        remember(section, "info", "master_data.unchanged")
        return False
    remember(section, "success", saved, version=result.versions[1], **fields)
    return True


def form_values(sku: Sku | None) -> dict[str, Any]:
    """The SKU form's fields for `sku` (a new one's defaults when None)."""
    if sku is None:  # unchecked: the defaults of every field the person has not typed yet
        sku = Sku.model_construct(sku="", gtin="", name="", category="", status=SkuStatus.DRAFT)
    return {
        "code": sku.sku,
        "gtin": sku.gtin,
        "name": sku.name,
        "category": sku.category,
        "base_unit": sku.base_unit,
        "packs": format_packs(sku.packs),
        "supplier": sku.supplier or "",
        "shelf_life_days": sku.shelf_life_days,
        "batch_managed": sku.batch_managed,
        "serial_managed": sku.serial_managed,
        "cold_chain_min_c": sku.cold_chain_min_c,
        "cold_chain_max_c": sku.cold_chain_max_c,
        "reorder_point": sku.reorder_point,
        "moq": sku.moq,
        "negative_stock": sku.negative_stock.value,
        "standard_cost": str(sku.standard_cost),
        "vat_rate": str(sku.vat_rate),
        "wholesale_price": "" if sku.wholesale_price is None else str(sku.wholesale_price),
        "valuation_method": "" if sku.valuation_method is None else sku.valuation_method.value,
    }


def load_form() -> None:
    """Fill the SKU form with the chosen SKU's record (or a new one's defaults)."""
    chosen = st.session_state.get("md_edit_choice") or ""
    sku = data.masterdata(ui.settings()).skus.get(chosen)
    for name, value in form_values(sku).items():
        st.session_state[SKU_FIELD.format(name)] = value


def save_sku() -> None:
    value = {name: st.session_state.get(SKU_FIELD.format(name)) for name in form_values(None)}
    existing = data.masterdata(ui.settings()).skus.get(st.session_state.get("md_edit_choice") or "")
    typed = value.pop("code") or ""
    code = existing.sku if existing else typed.strip()
    record = {
        "sku": code,
        "status": (existing.status if existing else SkuStatus.DRAFT).value,
        **{name: cell.strip() if isinstance(cell, str) else cell for name, cell in value.items()},
    }
    proposals, problems = read_form("skus", record)
    if problems:
        remember("sku", "error", "master_data.refused", problems)
        return
    saved = "master_data.sku_saved" if existing else "master_data.sku_created"
    if change("sku", proposals, "", saved, sku=code) and existing is None:
        st.session_state["md_edit_choice"] = code  # the new SKU is the one being edited now


def change_status() -> None:
    code = st.session_state.get("md_life_sku")
    to = st.session_state.get("md_life_to")
    reason = (st.session_state.get("md_life_reason") or "").strip()
    if not code or not to:
        return
    if not reason:
        remember("lifecycle", "warning", "master_data.reason_needed")
        return
    if change(
        "lifecycle", [SetStatus(code, SkuStatus(to), reason)], reason, "master_data.status_changed",
        sku=code, status=status_word(to),
    ):  # fmt: skip
        st.session_state["md_life_reason"] = ""


def add_alias() -> None:
    record = {
        name: (st.session_state.get(f"md_alias_{name}") or "").strip()
        for name in ("system", "code", "kind", "target")
    }
    proposals, problems = read_form("aliases", record)
    if problems:
        remember("aliases", "error", "master_data.refused", problems)
        return
    change("aliases", proposals, "", "master_data.alias_set", code=record["code"], target=record["target"])


def remove_alias() -> None:
    alias = data.masterdata(ui.settings()).aliases.get(st.session_state.get("md_alias_remove") or "")
    if alias is not None:
        change("aliases", [RemoveAlias(alias)], "", "master_data.alias_removed", code=alias.code)


def uploaded_files() -> list[tuple[str, bytes]]:
    return [(f.name, f.getvalue()) for f in st.session_state.get("md_import_files") or []]


def fingerprint(files: list[tuple[str, bytes]]) -> tuple[tuple[str, str], ...]:
    """Which files these are: a check holds for these bytes only."""
    return tuple((name, hashlib.sha256(content).hexdigest()) for name, content in files)


def import_files(dry_run: bool) -> None:
    """Check the uploaded files (a dry run: nothing is written), or import them."""
    files = uploaded_files()
    current = ui.account()
    if not files or current is None or not ui.may_decide(Area.MASTER_DATA):
        return
    st.session_state.pop(DONE.format("import"), None)
    try:
        result = data.import_masterdata(ui.settings(), files, current.name, current.role, dry_run)
    except data.Unavailable as exc:  # recorded; the stream workers did not take it
        st.session_state[CHECKED] = {"files": fingerprint(files), "imported": True}
        remember("import", "warning", exc.key, **exc.fields)
        return
    plan = result.change.plan if result.change else None
    st.session_state[CHECKED] = {
        "files": fingerprint(files),
        "problems": result.problems,
        "counts": result.counts,
        "changes": len(plan.changes) if plan else 0,
        "imported": not dry_run and result.ok,
    }
    if dry_run or not result.ok:
        return
    if result.written and result.versions:
        first, last = result.versions
        remember(
            "import", "success", "master_data.imported", changes=last - first + 1, first=first, last=last
        )
    else:
        remember("import", "info", "master_data.import_unchanged")


def problem_rows(problems: list[Any]) -> pd.DataFrame:
    """Import problems as a table: file (and sheet, for a workbook), row, column, reason and
    the message in the reader's language."""
    columns = ["file", "sheet", "row", "column", "reason", "message"]
    if not any(p.sheet for p in problems):
        columns.remove("sheet")
    frame = pd.DataFrame(
        [
            {"file": p.file, "sheet": p.sheet, "row": p.row, "column": p.column, "reason": p.reason,
             "message": problem_text(p)}
            for p in problems
        ],
        columns=columns,
    )  # fmt: skip
    frame["row"] = frame["row"].astype("Int64")  # a whole file's problem has no row
    return frame


# ----------------------------------------------------------------------------- the page
st.title(t("page.master_data"))
scores = {code: completeness(sku) for code, sku in catalog.skus.items()}
columns = st.columns(2 + len(SkuStatus))
columns[0].metric(t("master_data.skus"), t.number(len(catalog.skus)))
average = sum(score for score, _ in scores.values()) / len(scores) if scores else None
columns[1].metric(
    t("master_data.average_completeness"),
    "—" if average is None else t.percent(average / 100, 1),
    help=t("master_data.completeness_help"),
)
for column, status in zip(columns[2:], SkuStatus, strict=True):
    count = sum(1 for sku in catalog.skus.values() if sku.status is status)
    word = status_word(status)
    column.metric(word[:1].upper() + word[1:], t.number(count), help=t("master_data.status_help"))
if not edits:
    st.caption(t("master_data.cannot_change"))

tabs = st.tabs(
    [
        t("master_data.tab_skus"),
        t("master_data.tab_locations"),
        t("master_data.tab_suppliers"),
        t("master_data.tab_customers"),
        t("master_data.tab_aliases"),
        t("master_data.tab_rates"),
        t("master_data.tab_recipes"),
        t("master_data.tab_boms"),
        t("master_data.tab_import"),
    ]
)
(
    sku_tab,
    locations_tab,
    suppliers_tab,
    customers_tab,
    aliases_tab,
    rates_tab,
    recipes_tab,
    boms_tab,
    import_tab,
) = tabs

with sku_tab:
    search, status_filter = st.columns([2, 1])
    query = search.text_input(t("master_data.search"), key="md_search").strip().casefold()
    statuses = status_filter.multiselect(
        t("master_data.status_filter"),
        list(SkuStatus),
        format_func=status_word,
        placeholder=t("common.all"),
        key="md_status",
    )
    aliases_of: dict[str, list[str]] = {}
    for alias in catalog.aliases.values():
        if alias.kind == "sku":
            aliases_of.setdefault(alias.target, []).append(alias.code.casefold())

    def found(sku: Sku) -> bool:
        if statuses and sku.status not in statuses:
            return False
        texts = [sku.sku.casefold(), sku.name.casefold(), sku.gtin, *aliases_of.get(sku.sku, [])]
        return not query or any(query in text for text in texts)

    rows = [
        {
            "sku": sku.sku,
            "gtin": sku.gtin,
            "name": sku.name,
            "category": sku.category,
            "status": sku.status.value,
            "base_unit": sku.base_unit,
            "packs": format_packs(sku.packs),
            "supplier": sku.supplier or "",
            "completeness": scores[code][0],
            "missing": listing([field_name(name) for name in scores[code][1]]),
        }
        for code, sku in sorted(catalog.skus.items())
        if found(sku)
    ]
    skus = pd.DataFrame(
        rows,
        columns=["sku", "gtin", "name", "category", "status", "base_unit", "packs", "supplier", "completeness",
                 "missing"],
    )  # fmt: skip
    if catalog.skus:
        st.caption(t("master_data.shown", shown=t.number(len(skus)), total=t.number(len(catalog.skus))))
        ui.table(
            skus,
            hide_index=True,
            width="stretch",
            column_config={
                field_name("completeness"): st.column_config.ProgressColumn(
                    min_value=0, max_value=100, format="%d"
                )
            },
        )
    else:
        st.info(t("master_data.no_skus"))

    if edits:
        st.subheader(t("master_data.edit_heading"))
        codes = sorted(catalog.skus)
        if st.session_state.get("md_edit_choice") not in ("", None, *codes):
            st.session_state["md_edit_choice"] = ""
        st.selectbox(
            t("master_data.edit_choice"),
            ["", *codes],
            format_func=lambda c: f"{c} · {catalog.skus[c].name}" if c else t("master_data.new_sku"),
            on_change=load_form,
            key="md_edit_choice",
        )
        if SKU_FIELD.format("code") not in st.session_state:
            load_form()
        existing = catalog.skus.get(st.session_state.get("md_edit_choice") or "")
        past_draft = existing is not None and existing.status is not SkuStatus.DRAFT
        field = SKU_FIELD.format
        with st.form("md_sku_form"):
            if existing is None:
                st.caption(t("master_data.new_is_draft"))
            else:
                st.caption(t("master_data.editing", sku=existing.sku, status=status_word(existing.status)))
            a, b, c = st.columns(3)
            a.text_input(field_name("sku"), key=field("code"), disabled=existing is not None)
            b.text_input(field_name("gtin"), key=field("gtin"))
            c.text_input(field_name("name"), key=field("name"))
            a.text_input(field_name("category"), key=field("category"), help=t("master_data.category_help"))
            b.text_input(
                field_name("base_unit"), key=field("base_unit"), disabled=existing is not None,
                help=t("master_data.base_unit_help"),
            )  # fmt: skip
            c.text_input(field_name("packs"), key=field("packs"), help=t("master_data.packs_help"))
            suppliers = ["", *sorted(catalog.suppliers)]
            a.selectbox(
                field_name("supplier"),
                suppliers,
                format_func=lambda s: f"{s} · {catalog.suppliers[s].name}" if s else t("master_data.none"),
                key=field("supplier"),
            )
            b.number_input(field_name("reorder_point"), min_value=0, step=1, key=field("reorder_point"))
            c.number_input(field_name("moq"), min_value=0, step=1, key=field("moq"))
            a.text_input(
                field_name("standard_cost"), key=field("standard_cost"), help=t("master_data.money_help")
            )
            b.text_input(
                field_name("wholesale_price"), key=field("wholesale_price"), help=t("master_data.price_help")
            )
            c.selectbox(
                field_name("vat_rate"),
                [str(rate) for rate in VAT_RATES],
                format_func=lambda r: t.percent(float(r), 0),
                key=field("vat_rate"),
            )
            a.number_input(
                field_name("shelf_life_days"), value=None, min_value=1, step=1, key=field("shelf_life_days"),
                help=t("master_data.optional_help"),
            )  # fmt: skip
            b.number_input(
                field_name("cold_chain_min_c"), value=None, step=0.5, key=field("cold_chain_min_c"),
                help=t("master_data.optional_help"),
            )  # fmt: skip
            c.number_input(
                field_name("cold_chain_max_c"), value=None, step=0.5, key=field("cold_chain_max_c"),
                help=t("master_data.optional_help"),
            )  # fmt: skip
            a.selectbox(
                field_name("negative_stock"),
                [p.value for p in NegativeStockPolicy],
                format_func=lambda p: t.word("negative_stock", p),
                key=field("negative_stock"),
            )
            b.selectbox(
                field_name("valuation_method"),
                ["", *(m.value for m in ValuationMethod)],
                format_func=lambda m: t.word("valuation_method", m) if m else t("master_data.by_category"),
                key=field("valuation_method"),
            )
            c.checkbox(field_name("batch_managed"), key=field("batch_managed"), disabled=past_draft)
            c.checkbox(field_name("serial_managed"), key=field("serial_managed"), disabled=past_draft)
            st.form_submit_button(t("master_data.save"), on_click=save_sku, key="md_sku_save")
        show_outcome("sku")

        if codes:
            st.subheader(t("master_data.lifecycle"))
            chosen = st.selectbox(
                t("master_data.lifecycle_sku"),
                codes,
                format_func=lambda c: f"{c} · {catalog.skus[c].name} ({status_word(catalog.skus[c].status)})",
                key="md_life_sku",
            )
            now = catalog.skus[chosen].status
            st.caption(t("master_data.lifecycle_now", sku=chosen, status=status_word(now)))
            moves = [s.value for s in SkuStatus if s in SKU_TRANSITIONS[now]]
            st.radio(
                t("master_data.next_status"),
                moves,
                format_func=status_word,
                horizontal=True,
                key="md_life_to",
            )
            st.text_input(t("master_data.reason"), key="md_life_reason")
            st.button(t("master_data.change_status"), on_click=change_status, key="md_life_apply")
            show_outcome("lifecycle")

with locations_tab:
    locations = pd.DataFrame(
        [loc.model_dump(mode="json") for _, loc in sorted(catalog.locations.items())],
        columns=["location", "name", "kind", "city", "accounting_unit", "latitude", "longitude"],
    )
    if locations.empty:
        st.info(t("master_data.empty"))
    else:
        ui.table(locations, hide_index=True, width="stretch")

with suppliers_tab:
    suppliers_table = pd.DataFrame(
        [s.model_dump(mode="json") for _, s in sorted(catalog.suppliers.items())],
        columns=["supplier", "name", "lead_time_days", "phone"],
    )
    if suppliers_table.empty:
        st.info(t("master_data.empty"))
    else:
        ui.table(suppliers_table, hide_index=True, width="stretch")

with customers_tab:
    customers = pd.DataFrame(
        [c.model_dump(mode="json") for _, c in sorted(catalog.customers.items())],
        columns=["customer", "name", "phone", "id_number"],
    )
    if customers.empty:
        st.info(t("master_data.empty"))
    else:
        ui.table(customers, hide_index=True, width="stretch")
        st.caption(t("master_data.masked"))

with aliases_tab:
    st.caption(t("master_data.aliases_caption"))
    aliases = pd.DataFrame(
        [a.model_dump(mode="json") for _, a in sorted(catalog.aliases.items())],
        columns=["system", "code", "kind", "target"],
    )
    if aliases.empty:
        st.info(t("master_data.empty"))
    else:
        ui.table(aliases, hide_index=True, width="stretch")
    if edits:
        with st.form("md_alias_form"):
            st.markdown(f"**{t('master_data.alias_add')}**")
            a, b, c, d = st.columns(4)
            a.text_input(t("column.system"), key="md_alias_system", help=t("master_data.system_help"))
            b.text_input(t("column.code"), key="md_alias_code")
            c.selectbox(
                t("column.kind"),
                ["sku", "location"],
                format_func=lambda k: t.word("kind", k),
                key="md_alias_kind",
            )
            d.text_input(t("column.target"), key="md_alias_target", help=t("master_data.target_help"))
            st.form_submit_button(t("master_data.alias_set_button"), on_click=add_alias, key="md_alias_add")
        if catalog.aliases:
            keys = sorted(catalog.aliases)
            st.selectbox(
                t("master_data.alias_remove_choice"),
                keys,
                format_func=lambda k: t(
                    "master_data.alias_named",
                    system=catalog.aliases[k].system,
                    code=catalog.aliases[k].code,
                    target=catalog.aliases[k].target,
                ),
                key="md_alias_remove",
            )
            st.button(t("master_data.alias_remove"), on_click=remove_alias, key="md_alias_remove_button")
        show_outcome("aliases")

with rates_tab:
    st.caption(t("master_data.books_currency", currency=catalog.currency))
    rates = pd.DataFrame(
        [r.model_dump(mode="json") for _, r in sorted(catalog.rates.items())],
        columns=["currency", "valid_from", "rate"],
    )
    if rates.empty:
        st.info(t("master_data.empty"))
    else:
        ui.table(rates, hide_index=True, width="stretch")

with recipes_tab:
    st.caption(t("master_data.recipes_caption"))
    recipes = [recipe for _, recipe in sorted(catalog.recipes.items())]

    def product_name(code: str) -> str:
        sku = catalog.skus.get(code)
        return sku.name if sku is not None else ""

    def store_shown(store: str | None) -> str:
        return store or t("master_data.all_stores")

    if not recipes:
        st.info(t("master_data.no_recipes"))
    else:
        versions = pd.DataFrame(
            [
                {"product": r.product, "name": r.name or product_name(r.product), "store": store_shown(r.store),
                 "effective_from": r.effective_from.isoformat(), "yield_qty": str(r.yield_qty),
                 "components": len(r.components)}
                for r in recipes
            ],
            columns=["product", "name", "store", "effective_from", "yield_qty", "components"],
        )  # fmt: skip
        ui.table(versions, hide_index=True, width="stretch")
        by_key = {r.key: r for r in recipes}
        if st.session_state.get("md_recipe_choice") not in by_key:
            st.session_state["md_recipe_choice"] = recipes[0].key
        chosen_recipe = by_key[
            st.selectbox(
                t("master_data.recipe_choice"),
                list(by_key),
                format_func=lambda k: t(
                    "master_data.recipe_named",
                    product=by_key[k].product,
                    name=by_key[k].name or product_name(by_key[k].product),
                    store=store_shown(by_key[k].store),
                    effective_from=by_key[k].effective_from.isoformat(),
                ),
                key="md_recipe_choice",
            )
        ]
        made = catalog.skus.get(chosen_recipe.product)
        st.caption(
            t(
                "master_data.recipe_yield",
                yield_qty=str(chosen_recipe.yield_qty),
                unit=made.base_unit if made is not None else "",
            )
        )
        components = pd.DataFrame(
            [
                {"component": c.sku, "name": product_name(c.sku), "recipe_qty": str(c.qty),
                 "unit": c.unit or getattr(catalog.skus.get(c.sku), "base_unit", ""),
                 "loss_rate": t.percent(float(c.loss_rate), 1)}
                for c in chosen_recipe.components
            ],
            columns=["component", "name", "recipe_qty", "unit", "loss_rate"],
        )  # fmt: skip
        ui.table(components, hide_index=True, width="stretch")

with boms_tab:
    st.caption(t("master_data.boms_caption"))
    boms = [bom for _, bom in sorted(catalog.boms.items())]

    def sku_name(code: str) -> str:
        sku = catalog.skus.get(code)
        return sku.name if sku is not None else ""

    def base_unit(code: str) -> str:
        sku = catalog.skus.get(code)
        return sku.base_unit if sku is not None else ""

    if not boms:
        st.info(t("master_data.no_boms"))
    else:
        bom_versions = pd.DataFrame(
            [
                {"product": b.product, "name": b.name or sku_name(b.product),
                 "effective_from": b.effective_from.isoformat(), "bom_base_qty": str(b.base_qty),
                 "lines": len(b.lines), "operations": len(b.operations)}
                for b in boms
            ],
            columns=["product", "name", "effective_from", "bom_base_qty", "lines", "operations"],
        )  # fmt: skip
        ui.table(bom_versions, hide_index=True, width="stretch")
        boms_by_key = {b.key: b for b in boms}
        if st.session_state.get("md_bom_choice") not in boms_by_key:
            st.session_state["md_bom_choice"] = boms[0].key
        chosen_bom = boms_by_key[
            st.selectbox(
                t("master_data.bom_choice"),
                list(boms_by_key),
                format_func=lambda k: t(
                    "master_data.bom_named",
                    product=boms_by_key[k].product,
                    name=boms_by_key[k].name or sku_name(boms_by_key[k].product),
                    effective_from=boms_by_key[k].effective_from.isoformat(),
                ),
                key="md_bom_choice",
            )
        ]
        st.caption(
            t("master_data.bom_base", base_qty=str(chosen_bom.base_qty), unit=base_unit(chosen_bom.product))
        )
        bom_lines: list[dict[str, Any]] = []
        for bom_line in chosen_bom.lines:
            bom_lines.append(
                {"material": bom_line.sku, "name": sku_name(bom_line.sku), "bom_qty": str(bom_line.qty),
                 "unit": bom_line.unit or base_unit(bom_line.sku),
                 "scrap_rate": t.percent(float(bom_line.scrap_rate), 1)}
            )  # fmt: skip
            bom_lines += [
                {"material": bom_line.sku, "name": sku_name(s.sku), "substitute": s.sku, "priority": str(s.priority),
                 "ratio": str(s.ratio), "valid_from": s.valid_from.isoformat() if s.valid_from else "",
                 "valid_to": s.valid_to.isoformat() if s.valid_to else ""}
                for s in bom_line.substitutes
            ]  # fmt: skip
        line_columns = ["material", "name", "bom_qty", "unit", "scrap_rate", "substitute", "priority", "ratio",
                        "valid_from", "valid_to"]  # fmt: skip
        ui.table(pd.DataFrame(bom_lines, columns=line_columns).fillna(""), hide_index=True, width="stretch")
        st.caption(
            t("master_data.bom_routing", unit=base_unit(chosen_bom.product), currency=catalog.currency)
        )
        if not chosen_bom.operations:
            st.info(t("master_data.no_routing"))
        else:
            routing = pd.DataFrame(
                [
                    {"operation": o.operation, "operation_name": o.name, "hours_per_unit": str(o.hours_per_unit),
                     "labour_rate": str(o.labour_rate), "overhead_rate": str(o.overhead_rate)}
                    for o in chosen_bom.operations
                ],
                columns=["operation", "operation_name", "hours_per_unit", "labour_rate", "overhead_rate"],
            )  # fmt: skip
            ui.table(routing, hide_index=True, width="stretch")

with import_tab:
    st.caption(t("master_data.import_caption"))
    if not edits:
        st.info(t("master_data.cannot_change"))
    else:
        uploaded = st.file_uploader(
            t("master_data.import_files"),
            type=["csv", "xlsx", "xls"],
            accept_multiple_files=True,
            key="md_import_files",
        )
        files = [(f.name, f.getvalue()) for f in uploaded or []]
        checked = st.session_state.get(CHECKED)
        current = bool(files) and checked is not None and checked["files"] == fingerprint(files)
        imported = current and checked["imported"]
        clean = current and not imported and not checked["problems"] and checked["changes"] > 0
        check_button, import_button, _ = st.columns([1, 1, 4])
        check_button.button(
            t("master_data.dry_run"), disabled=not files, on_click=import_files, args=(True,),
            key="md_import_check", width="stretch",
        )  # fmt: skip
        import_button.button(
            t("master_data.import"), disabled=not clean, type="primary", on_click=import_files, args=(False,),
            key="md_import_run", width="stretch",
        )  # fmt: skip
        if current and not imported and checked["problems"]:
            problems = checked["problems"]
            st.error(t("master_data.import_problems", count=t.number(len(problems))))
            ui.table(problem_rows(problems), hide_index=True, width="stretch")
        elif current and not imported:
            counts = pd.DataFrame(
                [
                    {"entity": t.word("entity", name), "rows": c.rows, "new": c.new, "changed": c.changed,
                     "unchanged": c.unchanged}
                    for name, c in checked["counts"].items()
                    if c.rows
                ],
                columns=["entity", "rows", "new", "changed", "unchanged"],
            )  # fmt: skip
            if checked["changes"]:
                st.success(t("master_data.import_clean", changes=t.number(checked["changes"])))
            else:
                st.info(t("master_data.import_nothing"))
            ui.table(counts, hide_index=True)
        elif files and not imported:
            st.caption(t("master_data.import_check_first"))
        show_outcome("import")
