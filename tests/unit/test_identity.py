import hashlib
from datetime import UTC, datetime

import pytest

from stockflow.identity import (
    Action,
    Credential,
    Kind,
    Refusal,
    authorize,
    bearer_token,
    credential_for,
    new_credential,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def make(kind=Kind.DEVICE, locations=("ST01",), events=("pos_sale",)):
    return new_credential(
        "till-1", kind, NOW, locations, events, known_event_types={"pos_sale", "goods_receipt"}
    )


def test_only_the_secrets_hash_is_kept_and_it_proves_the_token():
    cred, token = make()
    prefix, token_id, secret = token.split("_", 2)
    assert (prefix, token_id) == ("sf", cred.token_id)
    assert cred.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(cred.as_dict())
    assert Credential.from_dict(cred.as_dict()) == cred
    assert credential_for(token, {cred.token_id: cred}) == cred


@pytest.mark.parametrize("bad", ["", "sf_", "sf_abc_x", "xx_000000000000_secret", "sf_000000000000_"])
def test_malformed_tokens_are_refused_as_unauthenticated(bad):
    cred, _ = make()
    found = credential_for(bad, {cred.token_id: cred})
    assert isinstance(found, Refusal) and found.status == 401


def test_a_wrong_secret_an_unknown_id_and_a_revoked_credential_are_refused():
    cred, token = make()
    by_id = {cred.token_id: cred}
    assert credential_for(token[:-1] + ("A" if token[-1] != "A" else "B"), by_id).reason == "invalid_token"
    assert credential_for(f"sf_{'0' * 12}_{token.split('_', 2)[2]}", by_id).reason == "invalid_token"
    revoked = Credential(**{**cred.__dict__, "revoked": True})
    assert credential_for(token, {cred.token_id: revoked}).reason == "revoked_token"


def test_a_device_is_scoped_to_its_locations_event_types_and_actions():
    till, _ = make()
    assert authorize(till, Action.POST_EVENT, "ST01", "pos_sale") is None
    assert authorize(till, Action.READ_STOCK, "ST01") is None
    assert authorize(till, Action.POST_EVENT, "WH1", "pos_sale").reason == "wrong_location"
    assert authorize(till, Action.POST_EVENT, "ST01", "goods_receipt").reason == "wrong_event_type"
    assert authorize(till, Action.POST_ALERT).status == 403
    assert authorize(till, Action.READ_STATE, "ST01").status == 403
    anything, _ = make(events=())
    assert authorize(anything, Action.POST_EVENT, "ST01", "goods_receipt") is None


def test_a_service_may_do_everything():
    svc, _ = make(Kind.SERVICE, locations=(), events=())
    for action in Action:
        assert authorize(svc, action, "WH9", "goods_receipt") is None


def test_a_device_needs_a_location_and_known_event_types():
    with pytest.raises(ValueError, match="location"):
        make(locations=())
    with pytest.raises(ValueError, match="unknown event types"):
        make(events=("pos_sael",))


def test_bearer_header_parsing():
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None
