"""Master-data changes reaching running workers: 10,000 new SKUs made through the service
(checked, audited, recorded, published) until every worker uses them, against a baseline in
the same run on the same broker: the same number of messages of the same size produced to a
one-partition topic and read to its end by as many plain consumers as there are workers.

`BENCH_MD_CHANGES` (default 10,000) and `BENCH_MD_WORKERS` (2) size it."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from bench.pipeline import Figure, free_port, health, report_and_save
from cli.supervisor import start_worker
from infra.processes import stop_process, wait_for_http
from infra.worker_client import MasterDataPublisher, WorkerClient
from simulator.company import build_catalog
from stockflow.config import Settings
from stockflow.masterdata import Sku
from stockflow.masterdata_changes import Upsert, encode_change
from stockflow.services.masterdata import change_master_data
from stores.audit_log import AuditLog
from stores.credentials import ensure_service_token
from stores.masterdata import MasterDataFiles
from streams.broker import EmbeddedBroker, ensure_topics


def gtin13(n: int) -> str:
    """A valid EAN-13 (GS1 check digit) from a running number."""
    body = f"699{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def new_skus(n: int, supplier: str) -> list[Sku]:
    return [
        Sku(
            sku=f"NEW-{i:06d}",
            gtin=gtin13(i),
            name=f"新品 {i}",
            category="new_range",
            packs={"case": 12},
            supplier=supplier,
        )
        for i in range(n)
    ]


async def broadcast_baseline(bootstrap: str, payloads: list[bytes], readers: int) -> float:
    """Seconds from the first send until every reader has read every message."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("bench_masterdata", 1, 1)])
    finally:
        await admin.close()
    tp = TopicPartition("bench_masterdata", 0)
    fetch_wait = Settings().embedded_fetch_wait_ms

    async def read_all() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=fetch_wait)
        await consumer.start()
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            seen = 0
            while seen < len(payloads):
                batch = await consumer.getmany(tp, timeout_ms=200, max_records=10_000)
                seen += len(batch.get(tp, ()))
        finally:
            await consumer.stop()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    reading = [asyncio.ensure_future(read_all()) for _ in range(readers)]
    for i, payload in enumerate(payloads):
        await producer.send("bench_masterdata", key=f"sku|{i}".encode(), value=payload)
    await producer.flush()
    await producer.stop()
    await asyncio.gather(*reading)
    return time.perf_counter() - started


def run(changes: int = 10_000, workers: int = 2) -> list[Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-masterdata-"))
    settings = Settings(var_dir=tmp / "var", broker_port=free_port(), web_port=free_port(), kafka_url=None)
    broker = EmbeddedBroker("127.0.0.1", settings.broker_port, tmp / "broker.log")
    broker.start()
    procs = []
    try:
        ensure_topics(broker.bootstrap, settings.topic_partitions)
        store = MasterDataFiles(settings.masterdata_path, settings.lake_dir)
        audit = AuditLog(settings.var_dir)
        company = build_catalog(settings.seed)
        seed = [
            Upsert(r)
            for r in (*company.suppliers.values(), *company.locations.values(), *company.skus.values())
        ]
        assert change_master_data(store, None, audit, seed, "bench").ok
        ensure_service_token(settings)
        urls = []
        for i in range(workers):
            port = free_port()
            ws = settings.model_copy(update={"web_port": port})
            procs.append(start_worker(ws, port, tmp / f"worker-{i}.log", "warn"))
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            wait_for_http(url + "/health", timeout=120, process=proc, ready_key="ready")

        skus = new_skus(changes, next(iter(company.suppliers)))
        proposals = [Upsert(s) for s in skus]
        publisher = MasterDataPublisher(WorkerClient(urls[0]))
        t0 = time.perf_counter()
        recorded = change_master_data(store, None, audit, proposals, "bench")
        t_recorded = time.perf_counter() - t0
        assert recorded.ok and len(recorded.changes) == changes
        t1 = time.perf_counter()
        publisher.publish(recorded.changes)
        t_published = time.perf_counter() - t1
        last = recorded.changes[-1].version
        while not all((health(u).get("masterdata_version") or 0) >= last for u in urls):
            time.sleep(0.02)
        t_everywhere = time.perf_counter() - t1
        payloads = [encode_change(c) for c in recorded.changes]
        baseline = asyncio.run(broadcast_baseline(broker.bootstrap, payloads, workers))
    finally:
        for proc in procs:
            stop_process(proc)
        broker.stop()
    return [
        Figure(f"{changes:,} changes checked, audited and recorded", t_recorded, "s"),
        Figure(f"{changes:,} changes recorded", changes / t_recorded, "changes/s"),
        Figure("published through the workers' API", t_published, "s"),
        Figure(
            f"published until all {workers} workers use them",
            t_everywhere,
            "s",
            baseline=baseline,
            target="≤ 10 s",
            ok=t_everywhere <= 10,
        ),
        Figure("changes applied per second, everywhere", changes / t_everywhere, "changes/s"),
    ]


def main() -> None:
    figures = run(
        changes=int(os.environ.get("BENCH_MD_CHANGES", 10_000)),
        workers=int(os.environ.get("BENCH_MD_WORKERS", 2)),
    )
    report_and_save(
        figures,
        "master data: live changes to running workers (baseline: the same messages broadcast raw)",
        "masterdata_live",
    )


if __name__ == "__main__":
    main()
