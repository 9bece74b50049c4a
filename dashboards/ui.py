"""What every page shares: the settings, the signed-in person and role, the interface's language
(the company's, switchable per person), cached reads, number formats, translated tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.access import save_language, sign_in, signed_in_account
from stockflow.accounts import Account, Outcome
from stockflow.config import Settings
from stockflow.editions import edition_areas
from stockflow.i18n import Language, Translator, parse_language
from stockflow.i18n import translator as translator_for
from stockflow.kpis import (
    DEAD_STOCK_DAYS,
    NEAR_EXPIRY_VALUE_DAYS,
    STOCKOUT_ACTIVE_DAYS,
    Kpi,
    PeriodComparison,
)
from stockflow.masking import Area, Role, can_decide, can_view
from stockflow.watermarks import Watermark, csv_row

T = TypeVar("T")
ACCOUNT_KEY = "account"  # the signed-in account's name
LANGUAGE_KEY = "language"  # the person's chosen language for this session
#: columns whose values are a fixed vocabulary (statuses, severities): shown in the interface's
#: language through `value.<column>.<value>` keys, the stored value where no key exists
VOCABULARY_COLUMNS = (
    "status", "state", "severity", "alert_type", "verdict", "decision", "classification", "level",
    "pattern", "role", "kind", "result", "action",
)  # fmt: skip


def settings() -> Settings:
    """Read per run (cheap): the environment decides which company the dashboard shows."""
    return Settings()


def language() -> Language:
    """The person's language: their choice on the sidebar (or a link's `?lang=zh_CN|en`, which
    then holds for the session), else the company's."""
    asked = parse_language(st.query_params.get("lang"))
    if asked is not None and LANGUAGE_KEY not in st.session_state:
        st.session_state[LANGUAGE_KEY] = str(asked)
    return parse_language(st.session_state.get(LANGUAGE_KEY)) or settings().interface_language


def translator() -> Translator:
    return translator_for(language())


def language_switch() -> None:
    """Both languages, each named in itself; the choice holds for this person's session."""
    languages = list(Language)
    current = language()
    chosen = st.selectbox(
        "语言 / Language",
        languages,
        index=languages.index(current),
        format_func=lambda lang: lang.label,
        key="language_choice",
    )
    if chosen != current:
        st.session_state[LANGUAGE_KEY] = str(chosen)
        name = st.session_state.get(ACCOUNT_KEY)
        if name:  # kept with the account: the next session opens in it too
            save_language(settings(), name, str(chosen))
        st.rerun()


def account() -> Account | None:
    """The signed-in account, read afresh on every run: a disabled or removed one signs out."""
    name = st.session_state.get(ACCOUNT_KEY)
    if not name:
        return None
    found = signed_in_account(settings(), name)
    if found is None:
        sign_out()
    return found


def role() -> Role | None:
    current = account()
    return current.role if current else None


def who() -> str:
    """The signed-in person's account name (for the audit log)."""
    current = account()
    if current is None:
        st.error(translator()("ui.signed_out"))
        st.stop()
    return current.name  # type: ignore[union-attr]


def require(area: Area) -> Role:
    """The signed-in role, or stop the page (a role that may not see the area sees nothing)."""
    t = translator()
    current = role()
    if current is None:
        st.error(t("ui.signed_out"))
        st.stop()
    if not can_view(current, area):
        st.error(t("ui.role_may_not_see"))
        st.stop()
    if area not in edition_areas(settings().edition):  # not routed; refused if opened anyway
        st.error(t("ui.not_in_edition"))
        st.stop()
    return current  # type: ignore[return-value]


def role_name(role: Role) -> str:
    t = translator()
    return {
        Role.MANAGER: t("role.manager"),
        Role.WAREHOUSE: t("role.warehouse"),
        Role.FINANCE: t("role.finance"),
        Role.AUDITOR: t("role.auditor"),
    }[role]


def may_decide(area: Area) -> bool:
    current = role()
    return current is not None and can_decide(current, area)


def sign_in_page() -> None:
    t = translator()
    st.title("stockflow")
    language_switch()
    st.caption(t("sign_in.caption"))
    with st.form("sign_in"):
        name = st.text_input(t("sign_in.name"), key="sign_in_name")
        password = st.text_input(t("sign_in.password"), type="password", key="sign_in_password")
        submitted = st.form_submit_button(t("sign_in.submit"))
    if submitted:
        current = settings()
        result = sign_in(current, name, password)
        if result.signed_in:
            st.session_state[ACCOUNT_KEY] = result.name
            chosen = signed_in_account(current, result.name)
            if chosen is not None and chosen.language and LANGUAGE_KEY not in st.session_state:
                st.session_state[LANGUAGE_KEY] = chosen.language
            st.rerun()
        if result.outcome in (Outcome.LOCKED, Outcome.LOCKED_OUT) and result.locked_until:
            until = result.locked_until.astimezone(current.tz).strftime("%Y-%m-%d %H:%M %Z")
            st.error(t("sign_in.locked", until=until))
        else:
            st.error(t("sign_in.wrong"))


def sign_out() -> None:
    st.session_state.pop(ACCOUNT_KEY, None)


def cached(fn: Callable[..., T], *args: Any) -> T:
    """`fn(settings, *args)`, reused for `dashboard_cache_seconds` per company (var dir)."""
    current = settings()
    return _cached(fn.__name__, str(current.var_dir.resolve()), current.dashboard_cache_seconds, args)


@st.cache_data(show_spinner=False, max_entries=256)
def _cached_forever(name: str, var_dir: str, bucket: int, args: tuple) -> Any:
    return getattr(data, name)(settings(), *args)


def _cached(name: str, var_dir: str, ttl: int, args: tuple) -> Any:
    import time

    # the time bucket makes entries expire after `ttl` seconds without a ttl per decorator
    return _cached_forever(name, var_dir, int(time.time() // ttl), args)


def time_axis(with_time: bool = False) -> Any:
    """A time axis labelled with numbers (09-01, 09-01 14:00), the same in both languages:
    Vega's own labels would name months and weekdays in English."""
    import altair as alt

    return alt.Axis(format="%m-%d %H:%M" if with_time else "%m-%d")


def reason(exc: data.Unavailable) -> str:
    """Why a source cannot be read, in the interface's language."""
    return translator()(exc.key, **exc.fields)


def unavailable(exc: data.Unavailable) -> None:
    st.info(reason(exc))
    st.stop()


def kpi_title(kpi: Kpi) -> str:
    return translator().get(f"kpi.{kpi.key}.title", kpi.title)


def kpi_definition(kpi: Kpi) -> str:
    """The KPI's definition in the interface's language, with the core's thresholds filled in."""
    message = translator().get(f"kpi.{kpi.key}.definition", kpi.definition)
    return message.format(
        active_days=STOCKOUT_ACTIVE_DAYS, dead_days=DEAD_STOCK_DAYS, expiry_days=NEAR_EXPIRY_VALUE_DAYS
    )


def fmt(kpi: Kpi, value: float | None) -> str:
    t = translator()
    if value is None:
        return "—"
    if kpi.unit == "%":
        return t.percent(value)
    if kpi.unit == "CNY":
        return t.money(value, decimals=0)
    if kpi.unit == "s":
        return t.duration(value)
    return t("unit.days", value=t.number(value, 1))


def fmt_change(kpi: Kpi, comparison: PeriodComparison) -> str | None:
    t = translator()
    change = comparison.change
    if change is None:
        return None
    # a plain "-" in front: Streamlit reads the sign (arrow and colour) from it
    sign = "+" if change >= 0 else "-"
    if kpi.unit == "%":
        return t("unit.points", value=sign + t.number(abs(change) * 100, 1))
    if kpi.unit == "CNY":
        return t.money(change, decimals=0, signed=True)
    if kpi.unit == "s":
        return sign + t.duration(abs(change))
    return t("unit.days", value=sign + t.number(abs(change), 1))


def shown(frame: Any) -> Any:
    """What the signed-in role may see of a table: every field it may not see masked, and every
    mobile number inside a text column, whatever the column (the core's rules)."""
    current = role()
    if current is None:
        return frame
    if isinstance(frame, list):
        frame = pd.DataFrame(frame)
    return data.masked(frame, current) if isinstance(frame, pd.DataFrame) else frame


def labelled(frame: Any, lang: Language | None = None) -> Any:
    """A table as people read it: column headers (`column.<name>`) and fixed-vocabulary values
    (`value.<column>.<value>`) in the interface's language; a name with no key stays as it is."""
    if not isinstance(frame, pd.DataFrame):
        return frame
    t = translator_for(lang or language())
    out = frame.copy()
    for column in VOCABULARY_COLUMNS:
        if column in out.columns and out[column].dtype == object:
            out[column] = out[column].map(lambda v, c=column: t.word(c, v) if isinstance(v, str) else v)
    if isinstance(out.index.name, str):
        out.index = out.index.rename(t.get(f"column.{out.index.name}", out.index.name))
    return out.rename(columns=lambda c: t.get(f"column.{c}", c) if isinstance(c, str) else c)


def table(frame: Any, **options: Any) -> Any:
    """`st.dataframe` of what the signed-in role may see (every page shows tables through this),
    with headers and statuses in the interface's language."""
    return st.dataframe(labelled(shown(frame)), **options)


def download_csv(label: str, make_frame: Callable[[], pd.DataFrame], file_name: str, rows: int) -> None:
    """CSV in UTF-8 with a BOM, so spreadsheets show Chinese text right, made only when
    someone clicks (a month's journal is large); masked as on screen, with the headers on
    screen, and a last row that says who took it and when (`stockflow.watermarks`); every
    download is an export in the audit log."""
    chosen = language()
    current = account()
    who = current.name if current is not None else "unknown"

    def made() -> bytes:
        text = labelled(shown(make_frame()), chosen).to_csv(index=False)
        mark = Watermark.taken_now(who, settings().tz).line(translator_for(chosen))
        return (text + csv_row([mark])).encode("utf-8-sig")

    st.download_button(
        label,
        made,
        file_name=file_name,
        mime="text/csv",
        on_click=_audit_export,
        args=(file_name, rows),
        key=f"download_{file_name}",
    )


def _audit_export(file_name: str, rows: int) -> None:
    current = account()
    if current is not None:  # a download button is only ever shown to someone signed in
        data.record_export(settings(), current.name, current.role, file_name, rows)
