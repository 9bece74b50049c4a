"""The whole test session presents one service credential to the workers it starts, and reads
the interface in English unless a test chooses Chinese (tests that check both languages set
`STOCKFLOW_LANGUAGE` or the dashboard's switch themselves).

Every worker a test starts registers it in its own var/credentials.json (as `stockflow up`
does with its service token); the helpers in `tests.support.network` send it.

The simulated company the dashboard tests read is built once for the session (`company_copy`),
and each test or module that reads it gets a copy of its own."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stockflow.identity import new_token

if TYPE_CHECKING:  # the company's helpers import the whole pipeline: only the tests that build one
    from tests.support.company_copy import CompanyCopy

os.environ.setdefault("STOCKFLOW_API_TOKEN", new_token()[0])
os.environ.setdefault("STOCKFLOW_LANGUAGE", "en")
# An excursion holds what it finds on hand as the stream meets the reading, and the stream
# reads the readings' topic apart from the scans': a simulated history would then hold other
# batches than the simulator's own books do. The tests that check the holds turn them on.
os.environ.setdefault("STOCKFLOW_EXCURSION_HOLDS", "false")


@pytest.fixture(autouse=True)
def _main_module_put_back():
    """Streamlit's AppTest runs a page as `__main__` and leaves it there: a process that a later
    test in the same pytest process starts with multiprocessing's spawn would run that page
    first. Each test ends with the real `__main__` back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def company_copy(tmp_path_factory) -> Callable[[Path], CompanyCopy]:
    """A 30-day simulated company's data as the running system leaves it (lake, books, warehouse,
    forecasts, quality results: `tests.support.company.write_company`), built once for the whole
    session, since that takes minutes. The build itself is never handed out: `company_copy(var)`
    copies it to `var` (a folder that does not exist yet), for the test to change as it likes."""
    from tests.support.company import write_company
    from tests.support.company_copy import CompanyCopy, copy_company

    built = tmp_path_factory.mktemp("company") / "var"
    lake = write_company(built, days=30)

    def copy(var: Path) -> CompanyCopy:
        copy_company(built, var)
        return CompanyCopy(var, lake.catalog, lake.ledger)

    return copy


#: Session fixtures that take minutes to build: with pytest-xdist every module that uses one runs
#: in the same process as the others that do, so each is built once.
_SHARED_BUILDS = {"company_copy": "company", "editions_warehouse": "editions"}


@functools.cache
def _scope_of(module: Path) -> str:
    """The work unit of a test module: the shared build it uses, else the module itself."""
    try:
        text = module.read_text(encoding="utf-8")
    except OSError:
        return str(module)
    return next((group for name, group in _SHARED_BUILDS.items() if name in text), str(module))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test` runs the tests in two processes (pytest-xdist): each module's tests in one
    of them, in order, so its module-scoped brokers and servers start once and its tests see
    each other's data as they do in one process; the modules that share a session build go to
    the same process."""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndSharedBuilds(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope_of(config.rootpath / nodeid.split("::", 1)[0])

    return ModulesAndSharedBuilds(config, log)
