import json
from pathlib import Path

import pytest

from stockflow.events import EventRejected, Topic, encode_event, event_json_schemas, parse_event
from tests.unit.conftest import receipt

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_roundtrip_is_lossless():
    ev = receipt()
    assert parse_event(encode_event(ev), Topic.SCANS) == ev


def test_malformed_json_is_rejected_with_reason():
    with pytest.raises(EventRejected) as err:
        parse_event(b'{"event_id": "x", ', Topic.SCANS)
    assert err.value.reason == "malformed_json"


def test_naive_timestamp_is_a_schema_violation():
    data = json.loads(encode_event(receipt()))
    data["occurred_at"] = "2026-03-02T08:00:00"
    with pytest.raises(EventRejected) as err:
        parse_event(data, Topic.SCANS)
    assert err.value.reason == "schema_violation"
    assert "occurred_at" in err.value.detail


def test_event_on_wrong_topic_is_rejected():
    with pytest.raises(EventRejected) as err:
        parse_event(encode_event(receipt()), Topic.POS_TRANSACTIONS)
    assert err.value.reason == "wrong_topic"


def test_unknown_fields_are_refused():
    data = json.loads(encode_event(receipt()))
    data["qty_typo"] = 3
    with pytest.raises(EventRejected, match="qty_typo"):
        parse_event(data, Topic.SCANS)


def test_committed_json_schemas_match_the_models():
    exported = event_json_schemas()
    committed = {p.stem: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")}
    assert set(committed) == set(exported), "run `stockflow schemas export`"
    for name, schema in exported.items():
        assert committed[name] == schema, (
            f"schemas/{name}.json drifted from the model: run `stockflow schemas export`"
        )


def test_a_forecast_review_carries_its_decision_and_only_an_override_has_a_quantity():
    base = {
        "event_type": "forecast_reviewed", "event_id": "review:forecast-1:ST01:MILK-1L",
        "occurred_at": "2026-11-01T09:00:00+08:00", "source": "planning", "location": "ST01",
        "sku": "MILK-1L", "run_id": "forecast-1", "reviewer": "王经理", "reason": "promotion next week",
    }  # fmt: skip
    event = parse_event({**base, "decision": "overridden", "override_daily": 12})
    assert (event.decision, event.override_daily, event.topic) == ("overridden", 12, Topic.SCANS)
    assert parse_event({**base, "decision": "accepted"}).override_daily is None
    for bad in (
        {"decision": "accepted", "override_daily": 3},
        {"decision": "overridden"},
        {"decision": "rejected"},
    ):
        with pytest.raises(EventRejected) as err:
            parse_event({**base, **bad})
        assert err.value.reason == "schema_violation"
    with pytest.raises(EventRejected):
        parse_event({**base, "decision": "accepted", "reason": ""})
