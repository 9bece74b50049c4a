"""A store that loses its network for a day: its edge agent keeps every sale, forwards them when
the network is back (once killed with SIGKILL halfway), and the centre lists the conflicts its
own moves of that day made.

The oracle is what the tills sent (their ids and running numbers) and arithmetic on the
quantities, not the agent's or the workers' code."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc

from lake import read_table
from stockflow.identity import Kind
from stores.credentials import CredentialStore
from tests.support import get_json, lake_event_ids, post_json, wait_until
from tests.support.edge import Cable, EdgeProcess

STORE, OTHER_STORE, WAREHOUSE = "ST01", "ST02", "WH1"


def _sale(event_id, till, seq, at, sku, qty=1, price="9.90"):
    return {
        "event_type": "pos_sale",
        "event_id": event_id,
        "occurred_at": at.isoformat(),
        "source": till,
        "source_seq": seq,
        "store": STORE,
        "ticket": f"T-{event_id}",
        "channel": "retail",
        "lines": [{"sku": sku, "qty": qty, "unit_price": price}],
    }


def _receipt(event_id, sku, qty, at):
    return {
        "event_type": "goods_receipt",
        "event_id": event_id,
        "occurred_at": at.isoformat(),
        "source": "backoffice",
        "location": STORE,
        "purchase_order": f"PO-{event_id}",
        "supplier": "SUP02",
        "sku": sku,
        "qty": qty,
        "unit_cost": "4.00",
    }


def test_a_store_offline_for_a_day_loses_nothing_and_the_conflicts_are_listed(stack):
    worker = stack.worker()
    skus = [
        s.sku
        for s in stack.catalog.skus.values()
        if not (s.batch_managed or s.serial_managed or s.cold_chain_min_c is not None) and s.supplier
    ][:4]
    short, plenty = skus[0], skus[1:]
    creds = CredentialStore(stack.settings.credentials_path)
    _, edge_token = creds.add("edge ST01", Kind.DEVICE, [STORE])
    _, till_token = creds.add("till ST01", Kind.DEVICE, [STORE], ["pos_sale", "pos_return"])
    _, other_token = creds.add("till ST02", Kind.DEVICE, [OTHER_STORE])

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=22)
    # opening stock, straight to the workers: 30 of the short SKU, plenty of the others
    opening = [_receipt("open-short", short, 30, start)] + [
        _receipt(f"open-{i}", sku, 2000, start) for i, sku in enumerate(plenty)
    ]
    assert post_json(worker.url + "/events", opening)[0] == 202

    cable = Cable(worker.web_port).plug()
    edge = EdgeProcess(
        stack.settings.var_dir,
        cable.url,
        edge_token,
        [STORE],
        edge_batch_events=5,  # many requests: the kill below lands while most still wait
        edge_sync_seconds=2,
        edge_resend_after_seconds=5,
        edge_backoff_max_seconds=1,
    ).start()
    try:
        # the agent syncs master data and the store's stock while the network is up
        wait_until(lambda: edge.health()["last_sync"], 60, "the agent's first sync")
        # same credentials, same scopes as the workers
        assert post_json(edge.url + "/events", _sale("x-1", "till-9", 1, start, short), other_token)[0] == 403
        assert (
            post_json(edge.url + "/events", _sale("x-2", "till-9", 1, start, short), "sf_nope_nope")[0] == 401
        )

        cable.cut()  # the store is cut off for the day
        rng = random.Random(5)
        sent: dict[str, list[tuple[int, str]]] = defaultdict(list)
        sold = Counter()
        events = []
        for till in ("till-1", "till-2"):
            for seq in range(1, 401):
                at = start + timedelta(hours=1, seconds=seq * 180 + (7 if till == "till-2" else 0))
                sku = short if seq % 16 == 0 else rng.choice(plenty)
                qty = 1 if sku == short else rng.randint(1, 3)
                event_id = f"{till}-{seq}"
                events.append((till, _sale(event_id, till, seq, at, sku, qty)))
                sent[till].append((seq, event_id))
                sold[sku] += qty
        # one sale of a SKU the catalogue does not know: the stream refuses it, the outbox says why
        stray = _sale("till-1-stray", "till-1", 10_000, start + timedelta(hours=21), "NO-SUCH-SKU")
        # the tills send in batches of 25, each till's in its own order
        by_till = defaultdict(list)
        for till, event in events:
            by_till[till].append(event)
        for evs in by_till.values():
            for i in range(0, len(evs), 25):
                status, answer = post_json(edge.url + "/events", evs[i : i + 25], till_token)
                assert status == 202, answer
        assert post_json(edge.url + "/events", stray, till_token)[0] == 202
        # a retry of a taken event is a duplicate, a reused id with other content is refused
        assert post_json(edge.url + "/events", events[0][1], till_token)[0] == 202
        changed = {**events[0][1], "lines": [{"sku": short, "qty": 5, "unit_price": "1.00"}]}
        assert post_json(edge.url + "/events", changed, till_token)[0] == 409

        # meanwhile the centre moves the short SKU: 20 go to the warehouse at midday, and a
        # count at the other end of the day; the store does not know
        midday = start + timedelta(hours=11)
        central = [
            {
                "event_type": "transfer_out",
                "event_id": "move-short",
                "occurred_at": midday.isoformat(),
                "source": "planner",
                "transfer_id": "TR-1",
                "from_location": STORE,
                "to_location": WAREHOUSE,
                "sku": short,
                "qty": 20,
            }
        ]
        assert post_json(worker.url + "/events", central)[0] == 202

        # offline, the agent shows the store's stock as the till made it, and suggests orders
        local = get_json(f"{edge.url}/stock/{STORE}/{short}", token=till_token)
        assert local["on_hand"] == 30 - sold[short]
        assert local["online"] is False
        plan = get_json(f"{edge.url}/replenishment/{STORE}", token=till_token)
        assert short in {o["sku"] for o in plan["orders"]}
        assert edge.outbox_counts()["waiting"] == 801
        assert not set(lake_event_ids(stack.lake)) & {e["event_id"] for _, e in events}

        # the network is back; the agent is killed once while it forwards, then restarted
        cable.plug()
        wait_until(
            lambda: edge.outbox_counts()["sent"] > 0 or edge.outbox_counts()["waiting"] < 700,
            60,
            "forwarding",
            interval=0.01,  # a fast worker takes the whole outbox within a longer pause
        )
        edge.kill9()
        assert edge.outbox_counts()["waiting"] > 0
        edge.start()
        wait_until(
            lambda: sum(edge.outbox_counts()[s] for s in ("waiting", "sent")) == 0,
            180,
            "the outbox drained",
        )
    finally:
        edge.stop()
        cable.cut()

    # every event the tills sent is in the lake exactly once
    landed = Counter(lake_event_ids(stack.lake))
    for ids in sent.values():
        for _, event_id in ids:
            assert landed[event_id] == 1, event_id
    # in order per till: the record applied each till's events in its running order
    table = read_table(stack.lake, "pos_transactions", ["source", "source_seq", "apply_seq"]).to_pylist()
    for till in sent:
        seqs = [r["source_seq"] for r in sorted(table, key=lambda r: r["apply_seq"]) if r["source"] == till]
        seqs = [s for s in seqs if s != 10_000]
        assert seqs == sorted(seqs) and len(seqs) == 400, till
    # the stray sale is dead-lettered; the outbox keeps it with the reason
    assert edge.outbox_counts()["dead_lettered"] == 1
    # the centre's stock is what both sides did
    served = get_json(f"{worker.url}/stock/{STORE}/{short}")
    assert served["on_hand"] == 30 - 20 - sold[short]
    # the conflicts: the offline sales of the short SKU that its central move had already taken
    listed = read_table(stack.lake, "conflicts").to_pylist()
    # (the stray sale is listed too, as refused, for a person to enter again)
    assert {c["kind"] for c in listed if c["event_id"] == "till-1-stray"} == {"refused"}
    conflicts = [c for c in listed if c["event_id"] != "till-1-stray"]
    assert conflicts, "no conflict listed"
    short_sales = {e["event_id"] for _, e in events if e["lines"][0]["sku"] == short}
    assert {c["event_id"] for c in conflicts} <= short_sales
    assert {c["sku"] for c in conflicts} == {short}
    # every sale that drove the position below zero is listed
    negative = read_table(stack.lake, "inventory_changed", ["event_id", "negative_stock"])
    driven = set(negative.filter(pc.equal(negative["negative_stock"], True)).column("event_id").to_pylist())
    assert driven & short_sales <= {c["event_id"] for c in conflicts}
