"""`stockflow vision` and `stockflow inspect`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from cli.common import Format, _prefect_server, console, explained, format_option, print_table, t
from stockflow.config import get_settings

commands = typer.Typer()  # top-level commands, added to the `stockflow` app

vision_app = typer.Typer(no_args_is_help=True, help=t("cli.vision.help"))

INSPECTION_COLUMNS = (
    "photo",
    "pallet_found",
    "cartons",
    "layers",
    "damaged_cartons",
    "mixed_goods",
    "confidence",
    "verdict",
    "event_id",
)


def verdict_name(verdict: str | None) -> str:
    """An inspection's verdict in the interface's language."""
    names = {
        "accept": t("value.verdict.accept"),
        "quarantine": t("value.verdict.quarantine"),
        "manual_review": t("value.verdict.manual_review"),
    }
    return "" if verdict is None else names.get(verdict, verdict)


@vision_app.command("train", help=t("cli.vision.train.help"))
def vision_train(
    epochs: int = typer.Option(50, min=1, help=t("cli.vision.train.epochs")),
    imgsz: int = typer.Option(320, help=t("cli.vision.train.imgsz")),
    batch: int = typer.Option(16, min=1, help=t("cli.vision.train.batch")),
    train_photos: int = typer.Option(500, min=1, help=t("cli.vision.train.train_photos")),
    val_photos: int = typer.Option(100, min=1, help=t("cli.vision.train.val_photos")),
    model_yaml: str = typer.Option("yolo11n.yaml", help=t("cli.vision.train.model_yaml")),
    held_out: int = typer.Option(300, min=0, help=t("cli.vision.train.held_out")),
    model_dir: Path = typer.Option(Path("vision/models"), help=t("cli.vision.train.model_dir")),
    work_dir: Path = typer.Option(None, help=t("cli.vision.train.work_dir")),
    threads: int = typer.Option(None, min=1, help=t("cli.vision.train.threads")),
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
    console.print(
        t(
            "cli.vision.training",
            epochs=epochs,
            train_photos=train_photos,
            val_photos=val_photos,
            held_out=held_out,
        ),
        markup=False,
    )
    try:
        from flows.train_detector import train_detector

        result = train_detector(
            model_dir, work_dir or settings.var_dir / "vision", cfg, held_out, held_out // 3, command
        )
    finally:
        if server is not None:
            server.stop()
    console.print(t("cli.vision.trained", folder=model_dir), markup=False)
    console.print_json(json.dumps(result))


def _inspected(path: Path, result: Any, event_id: str) -> dict[str, Any]:
    """One photo's row: the stable names scripts read (csv, json)."""
    found = bool(result.pallet_found)
    return {
        "photo": str(path),
        "pallet_found": found,
        "cartons": result.cartons if found else None,
        "layers": result.layers if found else None,
        "damaged_cartons": result.damaged_cartons if found else None,
        "mixed_goods": bool(result.mixed_goods) if found else None,
        "confidence": round(float(result.confidence), 4) if found else None,
        "verdict": result.verdict.value if found else None,
        "event_id": event_id or None,
    }


@commands.command("inspect", help=t("cli.inspect.help"))
def inspect_photos(
    images: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help=t("cli.inspect.images")),
    supplier: str = typer.Option(None, help=t("cli.inspect.supplier")),
    sku: str = typer.Option(None, help=t("cli.inspect.sku")),
    location: str = typer.Option(None, help=t("cli.inspect.location")),
    batch: str = typer.Option(None, help=t("cli.inspect.batch")),
    purchase_order: str = typer.Option(None, "--po", help=t("cli.inspect.po")),
    annotated: Path = typer.Option(None, file_okay=False, help=t("cli.inspect.annotated")),
    model: Path = typer.Option(None, exists=True, dir_okay=False, help=t("cli.inspect.model")),
    output: Format = format_option(),
) -> None:
    """Inspect pallet photos with the edge detector: cartons, layers, damage, mixed goods and a
    verdict. With --supplier, --sku and --location each result is recorded as a
    pallet_inspected event through the workers (exit status 2 when a file is not a photo)."""
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
            console.print(Text(t("cli.inspect.delivery_incomplete"), style="red"))
            raise typer.Exit(2) from None
    out_dir = annotated or (settings.var_dir / "inspections" if delivery else None)
    inspector = Inspector(model or settings.inspection_model or DEFAULT_MODEL)
    workers = WorkerClient(settings.web_url)
    rows: list[dict[str, Any]] = []
    failed = 0
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=len(images) < 2 or not console.is_terminal,
    )
    with progress:
        for path in progress.track(images, description=t("cli.inspect.progress")):
            try:
                data = path.read_bytes()
                seen = inspector.inspect_bytes(data)
            except NotAPhoto as exc:
                progress.console.print(
                    Text(t("cli.inspect.not_a_photo", photo=path, problem=explained(exc)), style="red")
                )
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
                    progress.stop()
                    console.print(
                        Text(t("cli.inspect.not_recorded", photo=path, problem=explained(exc)), style="red")
                    )
                    raise typer.Exit(1) from None
                sent = event.event_id if event is not None else ""
            elif out_dir is not None:  # inspected only, nothing recorded: the photo is all there is
                seen.write_annotated(out_dir / name)
            rows.append(_inspected(path, r, sent))
    print_table(
        rows,
        INSPECTION_COLUMNS,
        output,
        t("cli.inspect.title"),
        shown={
            "pallet_found": lambda found: t("common.yes") if found else t("cli.inspect.no_pallet"),
            "mixed_goods": lambda mixed: (
                "" if mixed is None else t("common.yes") if mixed else t("common.no")
            ),
            "confidence": lambda c: "" if c is None else f"{c:.2f}",
            "verdict": verdict_name,
        },
    )
    if out_dir is not None:
        console.print(t("cli.inspect.annotated_in", folder=out_dir), markup=False)
    if failed:
        raise typer.Exit(2)


GROUPS = {"vision": vision_app}
