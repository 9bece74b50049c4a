"""`stockflow vision` and `stockflow inspect`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from cli.common import _prefect_server, console
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

vision_app = typer.Typer(no_args_is_help=True, help="The pallet detector: train it.")


@vision_app.command("train")
def vision_train(
    epochs: int = typer.Option(50, min=1),
    imgsz: int = typer.Option(320, help="Square input size of the model."),
    batch: int = typer.Option(16, min=1),
    train_photos: int = typer.Option(500, min=1, help="Generated pallet photos to train on."),
    val_photos: int = typer.Option(100, min=1, help="Generated pallet photos to validate on (another seed)."),
    model_yaml: str = typer.Option("yolo11n.yaml", help="The architecture (no pretrained weights)."),
    held_out: int = typer.Option(300, min=0, help="Held-out pallet photos to measure the result on."),
    model_dir: Path = typer.Option(Path("vision/models"), help="Where the ONNX model and its report go."),
    work_dir: Path = typer.Option(None, help="Dataset and training runs (default: var/vision)."),
    threads: int = typer.Option(None, min=1, help="CPU threads (default: all)."),
) -> None:
    """Train the pallet detector from its model YAML on generated photos (CPU, offline), export
    ONNX and write the metrics report beside it (a flow on the local Prefect server)."""
    import shlex
    import sys

    from vision.train import TrainConfig

    settings = get_settings()
    cfg = TrainConfig(
        model_yaml=model_yaml,
        imgsz=imgsz,
        epochs=epochs,
        batch=batch,
        train_photos=train_photos,
        val_photos=val_photos,
        **({"threads": threads} if threads else {}),
    )
    command = shlex.join(["stockflow", *sys.argv[1:]])
    server = _prefect_server(settings)
    try:
        from flows.train_detector import train_detector

        result = train_detector(
            model_dir, work_dir or settings.var_dir / "vision", cfg, held_out, held_out // 3, command
        )
    finally:
        if server is not None:
            server.stop()
    console.print_json(json.dumps(result))


@commands.command("inspect")
def inspect_photos(
    images: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="Photos of inbound pallets."),
    supplier: str = typer.Option(None, help="Record the inspection for this supplier's delivery..."),
    sku: str = typer.Option(None, help="...of this SKU..."),
    location: str = typer.Option(None, help="...received at this location."),
    batch: str = typer.Option(None, help="The batch received (quarantined when the verdict is not accept)."),
    purchase_order: str = typer.Option(None, "--po", help="The purchase order."),
    annotated: Path = typer.Option(
        None, file_okay=False, help="Write annotated photos here (default: var/inspections when recording)."
    ),
    model: Path = typer.Option(
        None, exists=True, dir_okay=False, help="ONNX model (default: the committed one)."
    ),
) -> None:
    """Inspect pallet photos with the edge detector: cartons, layers, damage, mixed goods and a
    verdict. With --supplier, --sku and --location each result is recorded as a
    pallet_inspected event through the workers (exit status 2 when a file is not a photo)."""
    from rich.table import Table

    from infra.worker_client import StockApiError, WorkerClient
    from stockflow.services.inspections import Delivery, InspectionRefused, record_inspection
    from vision.detector import DEFAULT_MODEL
    from vision.inspector import Inspector, NotAPhoto, inspection_id

    settings = get_settings()
    fields = {
        "supplier": supplier,
        "sku": sku,
        "location": location,
        "batch": batch,
        "purchase_order": purchase_order,
    }
    delivery = None
    if Delivery.given(fields):
        try:
            delivery = Delivery.from_fields(fields)
        except InspectionRefused:
            console.print("[red]to record inspections give --supplier, --sku and --location together[/]")
            raise typer.Exit(2) from None
    out_dir = annotated or (settings.var_dir / "inspections" if delivery else None)
    inspector = Inspector(model or settings.inspection_model or DEFAULT_MODEL)
    workers = WorkerClient(settings.web_url)
    table = Table(
        "photo", "pallet", "cartons", "layers", "damaged", "mixed", "confidence", "verdict", "event"
    )
    failed = 0
    for path in images:
        try:
            data = path.read_bytes()
            seen = inspector.inspect_bytes(data)
        except NotAPhoto as exc:
            console.print(f"[red]{path}: {exc}[/]")
            failed += 1
            continue
        r = seen.result
        event_id = ""
        if delivery is not None:
            event_id = inspection_id(
                data, delivery.supplier, delivery.sku, delivery.batch, delivery.purchase_order
            )
        image = None
        if out_dir is not None:
            name = f"{event_id or path.stem}.jpg"
            image = str(out_dir / name)
        sent = ""
        if delivery is not None:
            try:
                # the annotated photo is written once the event is valid, before it is sent
                event = record_inspection(
                    r,
                    delivery,
                    workers,
                    event_id=event_id,
                    source="stockflow-inspect",
                    model=seen.model,
                    image=image,
                    keep_photo=(lambda _e, seen=seen, name=name: seen.write_annotated(out_dir / name))
                    if out_dir is not None
                    else None,
                )
            except (StockApiError, InspectionRefused) as exc:
                console.print(f"[red]{path}: not recorded: {exc}[/]")
                raise typer.Exit(1) from None
            sent = event.event_id if event is not None else ""
        elif out_dir is not None:  # inspected only, nothing recorded: the photo is all there is
            seen.write_annotated(out_dir / name)
        if not r.pallet_found:
            table.add_row(str(path), "no pallet found", "", "", "", "", "", "", "")
            continue
        table.add_row(
            str(path), "yes", str(r.cartons), str(r.layers), str(r.damaged_cartons),
            "yes" if r.mixed_goods else "no", f"{r.confidence:.2f}", r.verdict.value, sent,
        )  # fmt: skip
    Console().print(table)
    if out_dir is not None:
        console.print(f"annotated photos in {out_dir}")
    if failed:
        raise typer.Exit(2)


GROUPS = {"vision": vision_app}
