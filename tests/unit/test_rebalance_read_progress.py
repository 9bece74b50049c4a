"""A partition assigned back to the worker that had it is read again from its committed offset.

Faust's own consumer code runs here (its fetch loop, revoke, seek, acks and the offset it
commits); only the fetched records, the broker's answer to the seek and the hand-over to the
streams are scripted, in a timing that loses a message: the fetch loop is handing over a message
when the revoke comes, and after the partition comes back a fetch runs while the recovery's seek
is still asking the broker for the committed offset, and hands over a message as it ends."""

import asyncio

import faust
from faust.types import TP
from faust.types.tuples import Message

from streams.app import App, note_taken, read_assigned_partitions_afresh, reread_in_full

SCANS_0 = TP("scans", 0)
COMMITTED = 5


class OneFetch:
    """What the fetch loop gets as its fetcher: it runs one round, then stops."""

    def __init__(self) -> None:
        self.rounds = 0
        self._stopped = self

    def is_set(self) -> bool:
        self.rounds += 1
        return self.rounds > 1


class Scans:
    topics = (SCANS_0.topic,)


def redelivery_after_a_rebalance(forget: bool, read_in_full: bool = False) -> tuple[list[int], int | None]:
    """The offsets the fetch loop hands over in the generation after the revoke, and the offset
    the consumer commits once every one of them is acked."""
    return asyncio.run(asyncio.wait_for(revoked_and_assigned_back(forget, read_in_full), 10))


async def revoked_and_assigned_back(forget: bool, read_in_full: bool) -> tuple[list[int], int | None]:
    if read_in_full:  # the worker's own App, with the topic read in full
        reread_in_full(Scans)
    app = (App if read_in_full else faust.App)(
        "rebalance-read-progress", broker="kafka://127.0.0.1:1", store="memory://"
    )
    app.topics.acking_topics.add(SCANS_0.topic)
    if forget:
        app.on_partitions_assigned.connect(read_assigned_partitions_afresh)
    consumer = app.consumer  # made on the running loop, as in a worker
    handed_over: list[int] = []
    held: dict[int, asyncio.Event] = {}
    reached: dict[int, asyncio.Event] = {}
    seek_answered = asyncio.Event()

    def message(offset: int) -> Message:
        return Message(
            SCANS_0.topic, 0, offset, 0.0, 0, None, b"ST01", b"{}", None,
            tp=SCANS_0, generation_id=app.consumer_generation_id,
        )  # fmt: skip

    async def hand_over(msg: Message) -> None:
        handed_over.append(msg.offset)
        if msg.offset in held:
            reached[msg.offset].set()
            await held[msg.offset].wait()

    def fetched(offsets: range):
        async def getmany(timeout: float):
            for offset in offsets:
                yield SCANS_0, message(offset)

        return getmany

    def hold(offset: int) -> None:
        held[offset], reached[offset] = asyncio.Event(), asyncio.Event()

    async def app_revoked(revoked: set) -> None:
        consumer.stop_flow()  # what App._on_partitions_revoked does first

    async def app_assigned(assigned: set, generation_id: int) -> None:
        await app.on_partitions_assigned.send(assigned)

    async def broker_committed() -> dict:
        await seek_answered.wait()
        return {SCANS_0: COMMITTED}

    consumer.callback = hand_over
    consumer._on_partitions_revoked = app_revoked
    consumer._on_partitions_assigned = app_assigned
    consumer.seek_to_committed = broker_committed

    # generation 1: 5 is handed over (and never applied: the revoke comes first), and the loop
    # is handing over 6 when the partition is revoked
    consumer._committed_offset[SCANS_0] = COMMITTED
    consumer.resume_flow()
    hold(6)
    consumer.getmany = fetched(range(5, 7))
    loop = asyncio.ensure_future(consumer._drain_messages(OneFetch()))
    await reached[6].wait()
    await consumer.on_partitions_revoked({SCANS_0})
    await loop
    del held[6]  # the revoke cancelled that hand-over
    # generation 2: the same partition again, from the committed offset 5
    app.consumer_generation_id = 2
    await consumer.on_partitions_assigned({SCANS_0}, 2)
    handed_over.clear()
    consumer.resume_flow()
    seek = asyncio.ensure_future(consumer.perform_seek())
    hold(7)
    consumer.getmany = fetched(range(5, 10))  # fetched while the seek waits for the broker
    loop = asyncio.ensure_future(consumer._drain_messages(OneFetch()))
    await reached[7].wait()
    seek_answered.set()  # the seek completes while the loop hands over 7
    await seek
    held[7].set()
    await loop
    consumer.getmany = fetched(range(5, 10))  # and again from where the seek put the fetch
    await consumer._drain_messages(OneFetch())
    for offset in sorted(set(handed_over)):
        consumer.ack(message(offset))
    return handed_over, consumer._new_offset(SCANS_0)


def test_every_message_from_the_committed_offset_is_handed_over_again():
    handed_over, commit = redelivery_after_a_rebalance(forget=True)
    assert set(handed_over) == set(range(COMMITTED, 10))
    assert commit == 10  # every message below it was handed over, and acked


def test_without_it_faust_commits_past_a_message_it_never_handed_over():
    """Why the assignment forgets Faust's read progress: the offset the fetch loop wrote back
    after the revoke drops message 5 twice, and the acks of 6-9 commit past it."""
    handed_over, commit = redelivery_after_a_rebalance(forget=False)
    assert COMMITTED not in handed_over
    assert commit == 10


def test_a_topic_read_in_full_is_handed_over_again_even_with_faust_s_read_progress_left():
    """Faust's fetch drops nothing of a topic read in full, whatever read offset a late
    hand-over writes back: without the assignment's forgetting, every message from the
    committed offset is handed over again (a repeat is a duplicate its agent recognises)."""
    handed_over, commit = redelivery_after_a_rebalance(forget=False, read_in_full=True)
    assert set(range(COMMITTED, 10)) <= set(handed_over)
    assert commit == 10


def test_offsets_the_broker_does_not_have_are_committed_past():
    """A topic read in full keeps no read offset, so Faust cannot see where the broker has no
    message (a transaction's marker); the agent's `note_taken` tells it, and the commit goes
    past them once the messages around them are acked."""
    from streams.app import app as worker_app

    reread_in_full(Scans)
    worker_app.topics.acking_topics.add(SCANS_0.topic)

    async def taken(offsets: list[int]) -> int | None:
        consumer = worker_app.consumer
        for offset in offsets:
            msg = Message(
                SCANS_0.topic, 0, offset, 0.0, 0, None, b"ST01", b"{}", None, tp=SCANS_0, generation_id=3
            )
            await note_taken(msg)
            consumer.ack(msg)
        return consumer._new_offset(SCANS_0)

    assert asyncio.run(taken([0, 1, 2, 5, 6])) == 7  # 3 and 4 are not on the broker
