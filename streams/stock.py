"""The stock agent: events in, positions, inventory changes, alerts, dead letters and lake out.

Delivery is at-least-once; the effect is exactly-once because

1. every partition's state is a core `StockProcessor`, idempotent by event id;
2. accepted events land in the lake *before* their offsets are acknowledged (the agent
   takes events without acking them and acks them after each lake flush), and only in the
   consumer generation they were read in: a message read before a rebalance is neither applied
   nor acknowledged after it (the partition's owner reads it again from the committed offset);
3. when a worker (re)gains a partition it rebuilds that partition's processor from its newest
   checkpoint and the lake rows landed after it, in apply order, so anything redelivered after
   a crash is recognised. A checkpoint is the processor's snapshot taken when the rows of every
   event it includes are being landed; it is written after they have landed.

Every input topic is keyed by location and co-partitioned, so one partition owns every event
of a location; an event that arrives on the wrong partition (a producer with another
partitioner) is forwarded to the right one.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import time
from collections import Counter, OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from lake import (
    EVENT_TABLES,
    CheckpointStore,
    LakeWriter,
    alert_row,
    conflict_decision_row,
    conflict_row,
    now_utc,
    partition_for,
    replay_partitions,
)
from lake import reader as lake_reader
from lake.rows import dead_letter_records
from lake.tables import OPEN_ITEMS
from stockflow.alerts import AlertType, Severity
from stockflow.alerts import alert as make_alert
from stockflow.config import get_settings
from stockflow.conflicts import conflict_alert, find_conflicts
from stockflow.delivery import Delivery, delivery_headers, delivery_of, edge_headers, edge_of
from stockflow.devices import rejection_of
from stockflow.events import (
    ConflictDecided,
    ConflictingDuplicate,
    EventRejected,
    OutputTopic,
    Topic,
    check_event_time,
    encode_event,
    parse_event,
)
from stockflow.i18n import Message
from stockflow.intake import resolve_codes
from stockflow.ledger import Movement, StockRejected
from stockflow.masterdata import Catalog
from stockflow.processing import PolicyHeld, StockProcessor, menu_message
from stockflow.services.approvals import hold_event
from stores.approvals import ApprovalFile
from stores.audit_log import AuditLog
from stores.masterdata import MasterDataFiles
from stores.policies import PolicyFileError, PolicyFileWatch, load_policy_book
from streams import topics
from streams.app import app, kafka_producer, note_taken
from streams.batched_sends import BatchedSends
from streams.open_items import OpenReceivablesFile

log = logging.getLogger(__name__)
settings = get_settings()

#: Which worker serves a location: a table the workers never write (each one serves stock from
#: its partitions' ledgers), whose changelog partitions the group assigns with the input
#: partitions, so the assignment tells every worker where each location is (`views.owner_url`).
positions = app.Table(
    "positions",
    key_type=str,
    value_type=dict,
    partitions=settings.topic_partitions,
    help="Routing only: its partitions follow the input partitions (never written).",
)
# Raw keys: a location routes (and hashes) exactly as producers key their events.
positions.key_serializer = "raw"

EVENT_TOPICS = EVENT_TABLES  # every input topic lands in the lake table of the same name
#: The lake table of conflicts between edge events and the books, and their decisions.
CONFLICTS_TABLE = "conflicts"
#: How many dead-lettered event ids a worker remembers for `GET /events/{id}` (older ones are
#: looked up in the lake).
RECENT_DEAD_LETTERS = 100_000
#: How often a worker looks whether the rules file changed.
POLICY_CHECK_SECONDS = 2.0
EVENT_TIME_AHEAD = timedelta(hours=settings.event_time_max_ahead_hours)
#: Failpoints armed by the `failpoints` setting (the fault suite's crash injection): name → the
#: hit that kills the worker.
FAILPOINTS = {
    name.strip(): int(at) for name, _, at in (p.partition("=") for p in settings.failpoints.split(",")) if at
}
_failpoint_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    """SIGKILL this worker at the armed hit of `name` (a no-op unless the setting arms it)."""
    if name in FAILPOINTS:
        _failpoint_hits[name] += 1
        if _failpoint_hits[name] == FAILPOINTS[name]:
            log.error("failpoint %s reached (hit %d): killing this worker", name, FAILPOINTS[name])
            os.kill(os.getpid(), signal.SIGKILL)


class NotOwner(LookupError):
    """A request reached a worker that does not own the partition (a rebalance under way)."""


class StockState:
    """This worker's partitions: their processors, the lake buffer and the events to ack."""

    def __init__(self) -> None:
        self.catalog: Catalog | None = None
        self.processors: dict[int, StockProcessor] = {}
        self.lake = LakeWriter(settings.lake_dir, f"{settings.app_id}-{settings.web_port}")
        #: Customers' open receivables as the books last published them, for the credit check.
        self.receivables = OpenReceivablesFile(
            settings.lake_dir / OPEN_ITEMS.name, settings.open_items_refresh_seconds
        )
        self.pending_acks: list[Any] = []
        #: The derived messages (inventory changes, transit legs, alerts, dead letters, events
        #: forwarded to their partition) not yet handed to the producer.
        self.sends = BatchedSends(kafka_producer, app.conf.producer_max_request_size)
        self.stream: Any = None
        self.counters: Counter[str] = Counter()
        self.last_event_at: datetime | None = None
        self.rebuild_seconds: dict[int, float] = {}
        self.ready = False
        self.flush_lock = asyncio.Lock()
        #: Per partition, the apply_seq its state includes everything up to (for reconciliation).
        self.applied_seq: dict[int, int] = {}
        self.checkpoints = CheckpointStore(
            settings.checkpoints_dir, settings.topic_partitions, settings.checkpoints_kept
        )
        #: Per partition: events applied since its last checkpoint, and when that was (monotonic).
        self.since_checkpoint: Counter[int] = Counter()
        self.checkpointed_at: dict[int, float] = {}
        self.checkpoints_written = 0
        self.rebuilt_from: dict[int, int] = {}
        #: Partitions assigned to this worker now; messages of any other are not applied.
        self.owned: set[int] = set()
        #: Recently dead-lettered event ids → (reason, detail).
        self.dead_lettered: OrderedDict[str, tuple[str, str]] = OrderedDict()
        #: Set by `POST /drain` before a shutdown: no new events are taken over HTTP.
        self.draining = False
        #: Why the lake cannot be written now (consumption is paused meanwhile); None: it can.
        self.lake_blocked: str | None = None
        self.lake.remove_leftovers()
        #: The company's rules, read when the worker starts, and the queue of what they hold.
        self.policies = load_policy_book(settings.policies_path, settings.tz)
        self.policy_watch = PolicyFileWatch(settings.policies_path)
        self.approvals = ApprovalFile(settings.approvals_path)
        if self.policies:
            log.info("%d rules from %s", len(self.policies.rules), settings.policies_path)

    def load_catalog(self) -> Catalog:
        """The catalogue this worker checks events against: the recorded one when it started
        (empty for a new company), then every change the master-data feed applies in place."""
        if self.catalog is None:
            self.catalog = MasterDataFiles(Path(settings.masterdata_path), Path(settings.lake_dir)).load()
        return self.catalog

    def catalog_changed(self) -> None:
        """The catalogue changed in place: let the processors take it in."""
        for proc in self.processors.values():
            proc.catalog_changed()

    def new_processor(self) -> StockProcessor:
        return StockProcessor(
            self.load_catalog(),
            near_expiry_days=settings.near_expiry_days,
            excursion_minutes=settings.excursion_minutes,
            receivables=self.receivables,
            policies=self.policies,
            approvals=self.approvals,
        )

    def served_processor(self, partition: int) -> StockProcessor:
        """The processor of a partition this worker owns, for a view; `NotOwner` otherwise (a
        worker never rebuilds, or answers from, a partition another worker applies)."""
        proc = self.processors.get(partition) if partition in self.owned else None
        if proc is None:
            raise NotOwner(partition)
        return proc

    def processor_for(self, partition: int) -> StockProcessor:
        proc = self.processors.get(partition)
        if proc is None:
            self.rebuild({partition})
            proc = self.processors[partition]
        return proc

    def rebuild(self, partitions: set[int]) -> None:
        """Rebuild these partitions' processors from their newest checkpoints and the lake rows
        landed after them (the ledger is the record)."""
        started = time.perf_counter()
        done = replay_partitions(
            settings.lake_dir,
            self.load_catalog(),
            partitions,
            settings.topic_partitions,
            self.new_processor,
            checkpoints=self.checkpoints,
        )
        self.processors.update(done.processors)
        # what this worker lands from now on replays after everything the rebuild read, even
        # when the writer before it drew its numbers from a clock running ahead of ours
        self.lake.advance_past(max(done.highest_seq.values(), default=0))
        as_of = self.lake.next_seq()  # every row landed before the replay read the lake is older
        now = time.monotonic()
        for p in partitions:
            self.applied_seq[p] = as_of
            self.since_checkpoint[p] = 0
            self.checkpointed_at[p] = now
        elapsed = time.perf_counter() - started
        for p in partitions:
            self.rebuild_seconds[p] = elapsed
            self.rebuilt_from[p] = done.started_from[p]
        log.info(
            "partitions %s rebuilt in %.2fs: from checkpoints at %s, then %d events from the lake",
            sorted(partitions),
            elapsed,
            {p: seq for p, seq in sorted(done.started_from.items()) if seq} or "none",
            done.events,
        )

    def checkpoints_due(self) -> list[tuple[int, int, dict[str, Any]]]:
        """Snapshots of the partitions due a checkpoint: (partition, apply_seq, state).

        Called when the buffered rows are taken for a write: every event a snapshot includes
        has its rows in that write, and none after it; the apply_seq drawn now is above them all."""
        now = time.monotonic()
        due = [
            p
            for p, proc in self.processors.items()
            if self.since_checkpoint[p] >= settings.checkpoint_every_events
            or (
                self.since_checkpoint[p] > 0
                and now - self.checkpointed_at.get(p, 0.0) >= settings.checkpoint_every_seconds
            )
        ]
        if not due:
            return []
        seq = self.lake.next_seq()
        out = []
        for p in due:
            try:
                out.append((p, seq, self.processors[p].snapshot()))
            except Exception:  # a checkpoint is an optimisation: it must never stop the landing
                log.exception("partition %d not checkpointed; its older checkpoint stays", p)
                continue
            self.since_checkpoint[p] = 0
            self.checkpointed_at[p] = now
        return out

    def write_checkpoints(self, due: list[tuple[int, int, dict[str, Any]]]) -> None:
        """Store snapshots taken with `checkpoints_due` (after their rows landed); a failure
        costs only a longer replay next time."""
        for partition, seq, snapshot in due:
            try:
                self.checkpoints.write(partition, seq, snapshot)
                self.checkpoints_written += 1
            except (OSError, ValueError, TypeError):
                log.exception("checkpoint of partition %d not written; the older one stays", partition)

    def drop(self, partition: int) -> None:
        self.processors.pop(partition, None)


state = StockState()


def inventory_changed_message(event: Any, movements: tuple[Movement, ...], processed_at: datetime) -> bytes:
    """One message per applied event: every position it changed, with deltas and the result."""
    return orjson.dumps(
        {
            "event_id": event.event_id,
            "event_type": event.event_type,
            "occurred_at": event.occurred_at.isoformat(),
            "processed_at": processed_at.isoformat(),
            "location": event.location_id,
            "changes": [
                {
                    "sku": mv.sku,
                    "batch": mv.batch,
                    "delta": {
                        "on_hand": mv.on_hand_delta,
                        "reserved": mv.reserved_delta,
                        "quarantined": mv.quarantined_delta,
                        "in_transit": mv.in_transit_delta,
                    },
                    "position": mv.after.as_dict(),
                    "negative_stock": mv.negative_stock,
                    **({"hold_reason": mv.hold_reason} if mv.hold_reason else {}),
                }
                for mv in movements
            ],
        }
    )


async def dead_letter(
    topic: str,
    partition: int,
    offset: int,
    key: str,
    raw: bytes,
    reason: str,
    detail: str,
    event_id: str = "",
    refused_by_ledger: bool = False,
) -> None:
    """Publish and land a rejected message. `refused_by_ledger`: the ledger decided this event
    id (a redelivery must stay refused), as opposed to input it never understood or a fault."""
    row, record = dead_letter_records(
        topic, partition, offset, key, raw, reason, detail, event_id, refused_by_ledger, now_utc(),
        state.lake.next_seq(),
    )  # fmt: skip
    # buffered before anything is awaited, with the ledger's decision: a checkpoint that includes
    # the refusal includes its record too
    state.lake.append(OutputTopic.DEAD_LETTERS, row)
    if event_id:
        state.dead_lettered[event_id] = (reason, detail[:1000])
        if len(state.dead_lettered) > RECENT_DEAD_LETTERS:
            state.dead_lettered.popitem(last=False)
    state.counters["dead_lettered"] += 1
    try:
        derive(OutputTopic.DEAD_LETTERS, key or "", json.dumps(record, ensure_ascii=False).encode())
    except Exception:  # landed already: the record has it, only the notification is missing
        log.exception("dead letter %s/%d@%d landed but not published", topic, partition, offset)
        state.counters["dead_letters_not_published"] += 1
    state.counters[f"dead_lettered.{reason}"] += 1
    log.warning("dead letter %s/%d@%d: %s: %s", topic, partition, offset, reason, detail[:200])


def _event_id_of(raw: bytes) -> str:
    """The event id a message claims, if it has a readable one (never raises: it runs while
    dead-lettering whatever could not be read)."""
    try:
        data = json.loads(raw)
    except Exception:  # noqa: BLE001 — malformed, too deep, too big: no id
        return ""
    value = data.get("event_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and len(value) <= 64 else ""


async def process_message(
    topic: str,
    partition: int,
    offset: int,
    key: Any,
    raw: bytes,
    delivery: Delivery = Delivery.LIVE,
    published_at: float | None = None,
    edge: str | None = None,
) -> None:
    """Decode, apply, land and publish one message. Never raises: whatever goes wrong with one
    message (parsing, applying, landing, producing) dead-letters it with the reason. `delivery`:
    live, or history its producer sent after the fact (landed with the event, passed on to the
    transit legs it makes). `published_at`: when the broker took the message (epoch seconds), for
    waiting on master data published before it. `edge`: the edge agent that forwarded it (its
    conflicts with the central books are landed and alerted, `stockflow.conflicts`)."""
    state.counters["in"] += 1
    state.counters[f"in.{topic}"] += 1
    key_text = key.decode(errors="replace") if isinstance(key, bytes) else str(key or "")
    raw = raw if isinstance(raw, bytes) else (raw or b"")
    try:
        await _apply_message(topic, partition, offset, key_text, raw, delivery, published_at, edge)
    except Exception as exc:  # a bug must not stop the stream; the message is kept with the reason
        log.exception("processing failed for %s/%d@%d", topic, partition, offset)
        try:
            await dead_letter(
                topic, partition, offset, key_text, raw, "internal_error", repr(exc)[:1000], _event_id_of(raw)
            )
        except Exception:  # not even its dead letter could be made: logged, and the stream goes on
            log.exception("dead letter for %s/%d@%d failed", topic, partition, offset)
            state.counters["dead_letter_failures"] += 1


async def _apply_message(
    topic: str,
    partition: int,
    offset: int,
    key_text: str,
    raw: bytes,
    delivery: Delivery,
    published_at: float | None = None,
    edge: str | None = None,
) -> None:
    try:
        received = parse_event(raw, topic)
        check_event_time(received, now_utc(), settings.event_time_earliest, EVENT_TIME_AHEAD)
        event = resolve_codes(received, state.load_catalog())  # other systems' codes made ours
    except EventRejected as err:
        await dead_letter(topic, partition, offset, key_text, raw, err.reason, err.detail, _event_id_of(raw))
        return
    except (RecursionError, MemoryError) as exc:  # nesting or size a parser cannot take
        await dead_letter(topic, partition, offset, key_text, raw, "malformed_json", type(exc).__name__, "")
        return
    if event is not received:  # the record holds our codes
        raw = encode_event(event)
        state.counters["aliases_resolved"] += 1
    owner = partition_for(event.location_id, settings.topic_partitions)
    if owner != partition:  # sent by a producer with another partitioner (or by an alias): forward
        derive(
            topic,
            event.location_id,
            raw,
            partition=owner,
            headers=delivery_headers(delivery) + edge_headers(edge),
        )
        state.counters["rerouted"] += 1
        return
    proc = state.processor_for(partition)
    try:
        try:
            result = proc.process(event)
        except StockRejected as err:
            if err.reason not in MASTERDATA_REASONS or not await master_data_arrived(published_at):
                raise
            # the master data it lacked may have come in meanwhile: decided again, once (an
            # alias made meanwhile may name another location: its owner decides then)
            proc.ledger.reconsider(event.event_id)
            state.counters["decided_again"] += 1
            try:
                again = resolve_codes(received, state.load_catalog())
            except EventRejected as ambiguous:
                await dead_letter(
                    topic,
                    partition,
                    offset,
                    key_text,
                    raw,
                    ambiguous.reason,
                    ambiguous.detail,
                    event.event_id,
                )
                return
            if again is not event:
                event, raw = again, encode_event(again)
                owner = partition_for(event.location_id, settings.topic_partitions)
                if owner != partition:
                    derive(
                        topic,
                        event.location_id,
                        raw,
                        partition=owner,
                        headers=delivery_headers(delivery) + edge_headers(edge),
                    )
                    state.counters["rerouted"] += 1
                    return
            result = proc.process(event)
    except ConflictingDuplicate as err:
        await dead_letter(topic, partition, offset, key_text, raw, err.reason, err.detail, event.event_id)
        await record_conflicts(proc, event, err, edge, partition)
        return
    except PolicyHeld as held:
        await hold_for_approval(topic, event, raw, held)
        return
    except StockRejected as err:
        await dead_letter(
            topic,
            partition,
            offset,
            key_text,
            raw,
            err.reason,
            err.detail,
            event.event_id,
            refused_by_ledger=err.decided,  # a credit hold is not: it may pass once approved
        )
        await record_conflicts(proc, event, err, edge, partition)
        return
    if result.duplicate:
        state.counters["duplicates"] += 1
        return
    state.counters["applied"] += 1
    processed_at = now_utc()
    state.last_event_at = processed_at
    state.applied_seq[partition] = state.lake.land_applied(
        event, raw, topic, partition, offset, result.movements, processed_at, delivery
    )
    state.since_checkpoint[partition] += 1
    # produced now, flushed to the broker before these rows are written (`flush_lake`): a crash
    # in between redelivers the event, which the rebuilt state applies and publishes again
    if result.movements:
        derive(
            OutputTopic.INVENTORY_CHANGED,
            event.location_id,
            inventory_changed_message(event, result.movements, processed_at),
        )
    for follow_up in result.follow_ups:
        derive(
            Topic.STOCK_TRANSITS,
            follow_up.location_id,
            encode_event(follow_up),
            headers=delivery_headers(delivery),
        )
    for change in result.menu:
        derive(
            OutputTopic.MENU_AVAILABILITY,
            change.store,
            json.dumps(menu_message(change), ensure_ascii=False).encode(),
        )
        state.counters["menu_changes"] += 1
    for raised in result.alerts:
        await publish_alert(raised, processed_at)
    if isinstance(event, ConflictDecided):
        state.lake.append(
            CONFLICTS_TABLE, conflict_decision_row(event, partition, state.lake.next_seq(), processed_at)
        )
        state.counters["conflicts_decided"] += 1
    await record_conflicts(proc, event, result, edge, partition, processed_at)


async def hold_for_approval(topic: str, event: Any, raw: bytes, held: PolicyHeld) -> None:
    """Park an event a rule holds in the approvals queue, on disk before the event is
    acknowledged. Counted as forwarded (``rerouted``): once approved it comes back through its
    topic, and is counted in again."""
    request = await asyncio.to_thread(
        hold_event, state.approvals, AuditLog(settings.var_dir), held.decision, event, raw, topic
    )
    state.counters["held"] += 1
    state.counters["rerouted"] += 1
    log.info("event %s held for approval %s: %s", event.event_id, request.approval_id, held.decision.english)


async def record_conflicts(
    proc: StockProcessor,
    event: Any,
    outcome: Any,
    edge: str | None,
    partition: int,
    detected_at: datetime | None = None,
) -> None:
    """Land and alert the conflicts an edge event made with the central books (none for other
    events). The event itself is decided already (applied and landed, or dead-lettered): a
    failure here is logged and counted, never turned into a second record of the event."""
    if edge is None:
        return
    try:
        found = find_conflicts(proc.ledger, event, outcome, edge, detected_at or now_utc())
        for conflict in found:
            state.lake.append(CONFLICTS_TABLE, conflict_row(conflict, partition, state.lake.next_seq()))
            await publish_alert(conflict_alert(conflict), conflict.detected_at)
    except Exception:  # the event is decided and recorded; only its conflicts are missing
        log.exception("conflicts of %s from edge %s not recorded", getattr(event, "event_id", "?"), edge)
        state.counters["conflict_failures"] += 1
        return
    state.counters["conflicts"] += len(found)


#: Refusals a master-data change published a moment before the event can explain.
MASTERDATA_REASONS = frozenset(
    {
        "unknown_sku",
        "unknown_location",
        "unknown_supplier",
        "sku_draft",
        "sku_archived",
        "sku_frozen",
        "no_exchange_rate",
        "no_recipe",
        "no_bom",
        "unknown_component",
        "unknown_component_unit",
        "gtin_mismatch",
        "unit_conversion",
        "wrong_location_kind",
        "unknown_customer",
        "credit_approval_not_taken",
    }
)
#: Set by `streams.masterdata` once its feed runs: waits until every master-data change
#: published before a moment (epoch seconds) is applied; True when something new came in.
master_data_waiter: Any = None


async def master_data_arrived(published_at: float | None) -> bool:
    """Whether the catalogue changed while waiting for the master data published before the
    event was (False at once when there is no feed to wait for)."""
    if master_data_waiter is None:
        return False
    before = state.counters["masterdata_applied"]
    await master_data_waiter(published_at if published_at is not None else time.time())
    return state.counters["masterdata_applied"] != before


def derive(
    topic: str,
    key: str,
    value: bytes,
    partition: int | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Keep a message derived from an event for the next hand-over to the producer (at the end
    of the agent's batch, and before every lake write: `flush_lake`)."""
    state.sends.add(str(topic), key.encode(), value, partition, headers)


async def send(
    topic: str,
    key: str,
    value: bytes,
    partition: int | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Produce one message now, through the transport directly (Faust's Topic.send costs far
    more per message): for a request answered once the broker has it. What the stream derives
    from events goes through `derive`."""
    await app.producer.send(str(topic), key.encode(), value, partition, None, headers or None)


async def publish_alert(alert: Any, raised_at: datetime) -> None:
    state.lake.append(OutputTopic.ALERTS, alert_row(alert, raised_at))
    derive(OutputTopic.ALERTS, alert.location, alert.model_dump_json().encode())
    state.counters["alerts"] += 1


@app.agent(topics.stock_inputs, name="apply_stock_events")
async def apply_stock_events(stream: Any) -> None:
    """Apply every scan, POS and sensor event to the owning partition's ledger."""
    state.stream = stream
    async for batch in stream.noack_take(settings.batch_max_events, within=settings.batch_window_seconds):
        taken = []
        for event in batch:
            msg = event.message
            if msg.generation_id != app.consumer_generation_id:  # read before a rebalance
                state.counters["earlier_generation"] += 1
                continue
            if msg.partition not in state.owned:  # revoked meanwhile: its new owner applies it
                state.counters["not_owned"] += 1
                continue
            await note_taken(msg)
            rejected = rejection_of(msg.headers)  # a device message the MQTT bridge could not map
            if rejected is not None:
                state.counters["in"] += 1
                key = event.key.decode(errors="replace") if isinstance(event.key, bytes) else ""
                await dead_letter(msg.topic, msg.partition, msg.offset, key, event.value or b"", *rejected)
                taken.append(event)
                continue
            await process_message(
                msg.topic,
                msg.partition,
                msg.offset,
                event.key,
                event.value,
                delivery_of(msg.headers),
                msg.timestamp / 1000 if msg.timestamp else None,
                edge_of(msg.headers),
            )
            taken.append(event)
        state.pending_acks.extend(taken)
        state.sends.hand_over_soon()


async def flush_lake() -> None:
    """Make sure produced messages are on the broker, land buffered rows, then ack.

    Derived messages (inventory changes, transit legs, alerts, dead letters) are flushed to the
    broker *before* the rows of their events are written: once an event is in the record, all
    that follows from it has been published. The Parquet write runs in a thread so the agent
    keeps processing meanwhile; the events acked are exactly those whose rows were written and
    that were read in the consumer generation still current (one read before a rebalance is
    left unacked: it comes again, a duplicate its partition's state recognises).
    When the lake cannot be written (a full or failing disk) the rows stay buffered, nothing is
    acked, consumption pauses and an alert is raised; it resumes when a write succeeds."""
    async with state.flush_lock:
        if not state.lake.pending and not state.pending_acks:
            return
        acks, state.pending_acks = state.pending_acks, []
        rows = state.lake.take()
        due = state.checkpoints_due()
        # the files are written (not yet visible) while the derived messages go to the broker;
        # they are renamed into place only once the broker has every one of them
        preparing = asyncio.ensure_future(asyncio.to_thread(state.lake.prepare, rows))
        flushed: BaseException | None = None
        try:
            await state.sends.hand_over()  # every derived message of the rows taken, and more
            await app.producer.flush()
        except Exception as exc:  # the broker did not take them: nothing may land yet
            flushed = exc
        (prepared,) = await asyncio.gather(preparing, return_exceptions=True)
        failpoint("before_lake_write")
        try:
            if flushed is not None:
                raise flushed
            if isinstance(prepared, BaseException):
                raise prepared
            await asyncio.to_thread(state.lake.commit, prepared)
        except Exception as exc:  # nothing acked, every row kept: written again on the next tick
            if isinstance(prepared, BaseException):
                state.lake.put_back(rows)
            else:
                prepared.discard_after_failure(state.lake)
            state.pending_acks[:0] = acks
            await _lake_blocked(f"{type(exc).__name__}: {exc}")
            return
        if state.lake_blocked is not None:
            _resume(f"the lake can be written again after: {state.lake_blocked}")
        failpoint("after_lake_write")
        if due:
            await asyncio.to_thread(state.write_checkpoints, due)
        generation = app.consumer_generation_id
        for event in acks:
            if event.message.generation_id == generation:
                await state.stream.ack(event)
        keep_collector_pauses_short()
    await _record_lake_trouble()


async def _lake_blocked(why: str) -> None:
    """Pause consuming while the lake cannot be written (rows stay buffered, nothing is acked)."""
    first = state.lake_blocked is None
    state.lake_blocked = why
    state.counters["lake_write_failures"] += 1
    log.error("the lake cannot be written (%s); consumption paused until it can", why)
    if first:
        assignment = app.consumer.assignment()
        if assignment:
            app.consumer.pause_partitions(assignment)
        await publish_alert(
            _system_alert(Message("alert.lake_unwritable", why=why), why),
            now_utc(),
        )


def _resume(message: str) -> None:
    log.warning(message)
    state.lake_blocked = None
    assignment = app.consumer.assignment()
    if assignment:
        app.consumer.resume_partitions(assignment)


def _system_alert(message: Message, *id_parts: object) -> Any:
    return make_alert(
        AlertType.SYSTEM,
        Severity.CRITICAL,
        now_utc(),
        "*",
        message,
        id_parts=(settings.app_id, settings.web_port, *id_parts),
        worker=f"{settings.app_id}-{settings.web_port}",
    )


async def _record_lake_trouble() -> None:
    """Dead-letter rows a write had to leave out, and alert on lake files moved aside."""
    lake = state.lake
    while lake.unlandable:
        table, row, why = lake.unlandable.pop(0)
        if table == OutputTopic.DEAD_LETTERS:
            log.error("a dead letter could not be landed (%s): %r", why, row)
            continue
        payload = row.get("payload")
        raw = payload if isinstance(payload, bytes) else json.dumps(row, default=str).encode()
        await dead_letter(
            table,
            row.get("partition", -1),
            row.get("offset", -1),
            "",
            raw,
            "unlandable",
            why,
            str(row.get("event_id") or ""),
        )
        # the event was applied (and counted so); its record is the dead letter
        state.counters["dead_lettered"] -= 1
        state.counters["unlandable"] += 1
    while lake_reader.moved_aside:
        path, why = lake_reader.moved_aside.pop(0)
        await publish_alert(
            _system_alert(
                Message("alert.lake_file_unreadable", file=path.name, why=why, moved_to=str(path)), str(path)
            ),
            now_utc(),
        )


def keep_collector_pauses_short() -> None:
    """Move what survived the last second out of the collector's sight.

    The ledger grows into millions of long-lived objects; every full collection walked all of
    them (60–80 ms each, every few seconds, reclaiming next to nothing), which showed up as
    event latency. Young garbage is collected first; `full_collection()` reclaims anything
    frozen by mistake once an hour."""
    gc.collect(1)
    gc.freeze()


def full_collection() -> None:
    gc.unfreeze()
    gc.collect()


@app.timer(interval=settings.lake_flush_seconds, name="flush_lake")
async def flush_lake_timer() -> None:
    try:
        await flush_lake()
    except Exception:  # the next tick tries again; a crash here would lose nothing but the worker
        log.exception("lake flush failed; retried on the next tick")


@app.timer(interval=POLICY_CHECK_SECONDS, name="reload_policies")
async def reload_policies() -> None:
    """Take in the rules file when it changed: the next event is decided by the new rules. A
    file that is not valid leaves the rules in use as they are (and says why in the log)."""
    try:
        changed = state.policy_watch.changed()
    except PolicyFileError as exc:
        log.error("the rules file changed and cannot be used; the rules in use stay: %s", exc)
        return
    if changed is not None:
        state.policies.replace(changed)
        log.info("rules file changed: %d rules from %s", len(state.policies.rules), settings.policies_path)


@app.timer(interval=3600.0, name="sweep_expiry")
async def sweep_expiry() -> None:
    """Raise near-expiry alerts for batches nobody touched (and collect all garbage, hourly)."""
    now = datetime.now(UTC)
    for proc in list(state.processors.values()):
        for alert in proc.sweep_expiry(now):
            await publish_alert(alert, now)
    full_collection()


@app.on_partitions_revoked.connect
async def on_partitions_revoked(app: Any, revoked: set[Any], **kwargs: Any) -> None:
    state.ready = False
    gone = {tp.partition for tp in revoked if tp.topic in EVENT_TOPICS}
    state.owned -= gone  # from now on their messages are not applied here
    await flush_lake()
    for partition in gone:
        state.drop(partition)


@app.on_partitions_assigned.connect
async def on_partitions_assigned(app: Any, assigned: set[Any], **kwargs: Any) -> None:
    mine = {tp.partition for tp in assigned if tp.topic in EVENT_TOPICS}
    for partition in set(state.processors) - mine:
        state.drop(partition)
    missing = mine - set(state.processors)
    if missing:
        state.rebuild(missing)
    state.owned = mine
    state.ready = True
    await _record_lake_trouble()  # files the rebuild had to move aside
