"""The whole test session presents one service credential to the workers it starts, and reads
the interface in English unless a test chooses Chinese (tests that check both languages set
`STOCKFLOW_LANGUAGE` or the dashboard's switch themselves).

Every worker a test starts registers it in its own var/credentials.json (as `stockflow up`
does with its service token); the helpers in `tests.support.network` send it."""

import os

from stockflow.identity import new_token

os.environ.setdefault("STOCKFLOW_API_TOKEN", new_token()[0])
os.environ.setdefault("STOCKFLOW_LANGUAGE", "en")
