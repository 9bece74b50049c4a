"""What every page shares: the settings, the signed-in person and role, cached reads, number
formats."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.access import sign_in, signed_in_account
from stockflow.accounts import Account, Outcome
from stockflow.config import Settings
from stockflow.kpis import Kpi, PeriodComparison
from stockflow.masking import Area, Role, can_decide, can_view

T = TypeVar("T")
ACCOUNT_KEY = "account"  # the signed-in account's name
SIGNED_OUT = "You are not signed in (or your account was disabled): open the dashboard again to sign in."


def settings() -> Settings:
    """Read per run (cheap): the environment decides which company the dashboard shows."""
    return Settings()


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
        st.error(SIGNED_OUT)
        st.stop()
    return current.name  # type: ignore[union-attr]


def require(area: Area) -> Role:
    """The signed-in role, or stop the page (a role that may not see the area sees nothing)."""
    current = role()
    if current is None:
        st.error(SIGNED_OUT)
        st.stop()
    if not can_view(current, area):
        st.error("Your role may not see this page.")
        st.stop()
    return current  # type: ignore[return-value]


def may_decide(area: Area) -> bool:
    current = role()
    return current is not None and can_decide(current, area)


def sign_in_page() -> None:
    st.title("stockflow")
    st.caption("Sign in with your account's name and password.")
    with st.form("sign_in"):
        name = st.text_input("Name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        current = settings()
        result = sign_in(current, name, password)
        if result.signed_in:
            st.session_state[ACCOUNT_KEY] = result.name
            st.rerun()
        if result.outcome in (Outcome.LOCKED, Outcome.LOCKED_OUT) and result.locked_until:
            until = result.locked_until.astimezone(current.tz).strftime("%Y-%m-%d %H:%M %Z")
            st.error(
                f"This account is locked until {until} after too many failed sign-ins. "
                "Try again then, or ask an administrator to unlock it."
            )
        else:
            st.error("Wrong name or password.")


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


def unavailable(exc: data.Unavailable) -> None:
    st.info(str(exc))
    st.stop()


def fmt(kpi: Kpi, value: float | None) -> str:
    if value is None:
        return "—"
    if kpi.unit == "%":
        return f"{value:.1%}"
    if kpi.unit == "CNY":
        return f"¥{value:,.0f}"
    if kpi.unit == "s":
        return _duration(value)
    return f"{value:,.1f} {kpi.unit}"


def fmt_change(kpi: Kpi, comparison: PeriodComparison) -> str | None:
    change = comparison.change
    if change is None:
        return None
    if kpi.unit == "%":
        return f"{change * 100:+.1f} pp"
    # a plain "-" in front: Streamlit reads the sign (arrow and colour) from it
    sign = "+" if change >= 0 else "-"
    if kpi.unit == "CNY":
        return f"{sign}¥{abs(change):,.0f}"
    if kpi.unit == "s":
        return sign + _duration(abs(change))
    return f"{change:+,.1f} {kpi.unit}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def shown(frame: Any) -> Any:
    """What the signed-in role may see of a table: every field it may not see masked, and every
    mobile number inside a text column, whatever the column (the core's rules)."""
    current = role()
    if current is None:
        return frame
    if isinstance(frame, list):
        frame = pd.DataFrame(frame)
    return data.masked(frame, current) if isinstance(frame, pd.DataFrame) else frame


def table(frame: Any, **options: Any) -> Any:
    """`st.dataframe` of what the signed-in role may see (every page shows tables through this)."""
    return st.dataframe(shown(frame), **options)


def download_csv(label: str, make_frame: Callable[[], pd.DataFrame], file_name: str, rows: int) -> None:
    """CSV in UTF-8 with a BOM, so spreadsheets show Chinese text right, made only when
    someone clicks (a month's journal is large); masked as on screen; every download is an
    export in the audit log."""
    st.download_button(
        label,
        lambda: shown(make_frame()).to_csv(index=False).encode("utf-8-sig"),
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
