"""What each edition is made of: its topics and the dashboard areas it shows.

The standard edition (进销存) is the whole stock platform. The no-stock edition (无库存版) is a
service business: its stock topics are never created, the stock workers never start, the stock
flows are never deployed and the stock pages are not in the router. This module says which is
which, once; the broker set-up, the workers, the flows and the router ask it.
"""

from __future__ import annotations

from stockflow.config import Edition
from stockflow.events import OutputTopic, ServiceTopic, Topic
from stockflow.masking import Area
from stockflow.masterdata_changes import MASTERDATA_TOPIC

#: The stock module's topics: its input events, what it derives, and the master-data feed of
#: SKUs, locations and suppliers.
STOCK_TOPICS: tuple[str, ...] = (
    *(t.value for t in Topic),
    OutputTopic.INVENTORY_CHANGED.value,
    OutputTopic.ALERTS.value,
    OutputTopic.MENU_AVAILABILITY.value,
    MASTERDATA_TOPIC,
)

_TOPICS: dict[Edition, tuple[str, ...]] = {
    Edition.STANDARD: (*STOCK_TOPICS, OutputTopic.DEAD_LETTERS.value),
    Edition.NO_STOCK: (ServiceTopic.SERVICE_EVENTS.value, OutputTopic.DEAD_LETTERS.value),
}

_AREAS: dict[Edition, frozenset[Area]] = {
    Edition.STANDARD: frozenset(Area) - {Area.SERVICES},
    Edition.NO_STOCK: frozenset({Area.SERVICES, Area.AUDIT, Area.APPROVALS}),
}


def edition_topics(edition: Edition) -> tuple[str, ...]:
    """The topics the edition's workers read and write (every other one is never created)."""
    return _TOPICS[edition]


def edition_areas(edition: Edition) -> frozenset[Area]:
    """The dashboard areas the edition has (a page of any other area is not in the router)."""
    return _AREAS[edition]


def has_stock(edition: Edition) -> bool:
    return edition is Edition.STANDARD
