"""The whole test session presents one service credential to the workers it starts, and reads
the interface in English unless a test chooses Chinese (tests that check both languages set
`STOCKFLOW_LANGUAGE` or the dashboard's switch themselves).

Every worker a test starts registers it in its own var/credentials.json (as `stockflow up`
does with its service token); the helpers in `tests.support.network` send it."""

import os
import sys

import pytest

from stockflow.identity import new_token

os.environ.setdefault("STOCKFLOW_API_TOKEN", new_token()[0])
os.environ.setdefault("STOCKFLOW_LANGUAGE", "en")


@pytest.fixture(autouse=True)
def _main_module_put_back():
    """Streamlit's AppTest runs a page as `__main__` and leaves it there: a process that a later
    test in the same pytest process starts with multiprocessing's spawn would run that page
    first. Each test ends with the real `__main__` back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
