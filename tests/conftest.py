"""The whole test session presents one service credential to the workers it starts, and reads
the interface in English unless a test chooses Chinese (tests that check both languages set
`STOCKFLOW_LANGUAGE` or the dashboard's switch themselves).

Every worker a test starts registers it in its own var/credentials.json (as `stockflow up`
does with its service token); the helpers in `tests.support.network` send it."""

import os

import pytest

from stockflow.identity import new_token

os.environ.setdefault("STOCKFLOW_API_TOKEN", new_token()[0])
os.environ.setdefault("STOCKFLOW_LANGUAGE", "en")

#: fixtures wider than one test: what a module builds once for all its tests
MODULE_WIDE = {"class", "module", "package"}


def _builds_once(item: pytest.Item) -> bool:
    fixtures = getattr(item, "_fixtureinfo", None)
    return fixtures is not None and any(
        definitions and definitions[-1].scope in MODULE_WIDE
        for definitions in fixtures.name2fixturedefs.values()
    )


def _rank(item: pytest.Item, building: set[str]) -> int:
    """Whole stacks first (`stockflow up`, the browser, injected faults), then the integration
    modules that build a company, broker or server for all their tests, then the other
    integration tests, the unit tests last."""
    parts = item.path.parts
    if "e2e" in parts or "faults" in parts:
        return 0
    if "integration" in parts:
        return 1 if item.module is not None and item.module.__name__ in building else 2
    return 3


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` spreads the test modules over several processes (pytest-xdist, `--dist
    loadfile`: a module's tests stay together, so what it builds once is built once), handing
    them out in the order collected: the longest-running kinds go first, so that none of them
    is left to run alone at the end. Within a kind the order is the one collected."""
    building = {item.module.__name__ for item in items if item.module is not None and _builds_once(item)}
    items.sort(key=lambda item: _rank(item, building))
