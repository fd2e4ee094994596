"""The ``lightemo-video`` command line: thin typer commands over the jobs and pipeline.

This is the only module that prints with rich; everything else returns values or raises
``LightEmoError``, which becomes a one-line message and exit code 1 here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from model.errors import LightEmoError
from pipeline.export import Format, Level, export

app = typer.Typer(
    help="Per-face emotion timelines from recordings and live cameras.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
err = Console(stderr=True, soft_wrap=True)  # one-line messages stay on one line


@app.callback()
def main() -> None:
    """Per-face emotion timelines from recordings and live cameras."""
    # Our own one-line errors replace FFmpeg's and OpenCV's console chatter; Ray workers
    # inherit these settings from the driver.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
        force=True,
    )


def _fail(exc: LightEmoError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    return typer.Exit(code=1)


@app.command()
def train(
    data: Annotated[
        Path, typer.Option(help="FER2013 train folder (class subfolders) or fer2013.csv.")
    ] = Path("../shared/datasets/fer2013/train"),
    recipe: Annotated[str, typer.Option(help="Named recipe: paper, paper-bf16.")] = "paper",
    name: Annotated[str, typer.Option(help="File stem of the trained model.")] = "lightemonet",
    out: Annotated[Path, typer.Option(help="Where the model files and card go.")] = Path(
        "model/weights"
    ),
    run_dir: Annotated[
        Path | None, typer.Option(help="Checkpoints and logs; rerun with it to resume.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the recipe's epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the recipe's batch.")] = None,
    max_images: Annotated[
        int | None, typer.Option(help="Train on a stratified sample (smoke runs).")
    ] = None,
) -> None:
    """Train LightEmoNet on FER2013 and export .keras, int8 .tflite and a model card."""
    from jobs.recipes import RECIPES
    from jobs.train import train as run_training

    _setup_logging()
    if recipe not in RECIPES:
        raise _fail(LightEmoError("--recipe", f"unknown recipe '{recipe}'; known: {', '.join(RECIPES)}"))
    chosen = RECIPES[recipe].with_overrides(epochs=epochs, batch_size=batch_size)
    try:
        result = run_training(
            data,
            chosen,
            run_dir or Path("runs") / name,
            out,
            name,
            max_images=max_images,
        )
    except LightEmoError as exc:
        raise _fail(exc) from None
    err.print(
        f"trained {result.epochs_run} epochs in {result.wall_time_s:.0f} s, best validation "
        f"accuracy {result.best_val_accuracy:.4f}"
    )
    typer.echo(result.keras_path)
    typer.echo(result.tflite_path)
    typer.echo(result.card_path)


@app.command()
def analyze(
    paths: Annotated[list[Path], typer.Argument(help="Video files and/or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("outputs"),
    sample_fps: Annotated[
        float, typer.Option(help="Frames analysed per second of video; 0 = every frame.")
    ] = 10.0,
    detector: Annotated[str | None, typer.Option(help="Face detector: blazeface, haar, ...")] = None,
    model: Annotated[
        str | None, typer.Option(help="Shipped model name or .tflite/.keras path.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="CPUs for the embedded Ray (default: all cores).")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Use an existing Ray cluster (auto, HOST:PORT, ray://...).")
    ] = None,
    segment_frames: Annotated[
        int, typer.Option(help="Frames per parallel task within one file.")
    ] = 600,
    force: Annotated[bool, typer.Option(help="Redo videos that are already complete.")] = False,
) -> None:
    """Analyse recordings into per-face emotion timelines (Parquet) under OUT/<video_id>/."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline.analyze import AnalyzeConfig
    from pipeline.detect import DEFAULT_DETECTOR, DETECTORS
    from pipeline.orchestration import ProgressEvent, analyze_videos, expected_frames
    from pipeline.sources import find_videos

    _setup_logging()
    if sample_fps < 0:
        raise _fail(LightEmoError("--sample-fps", f"must be 0 (every frame) or positive, got {sample_fps}"))
    detector = detector or DEFAULT_DETECTOR
    if detector not in DETECTORS:
        raise _fail(LightEmoError("--detector", f"unknown detector '{detector}'; choose one of {', '.join(DETECTORS)}"))
    videos, missing = find_videos(paths)
    for problem in missing:
        err.print(f"[red]error:[/] {problem}", highlight=False)
    config = AnalyzeConfig(sample_fps=sample_fps, detector=detector, model=model, segment_frames=segment_frames)
    try:
        config.fingerprint()  # fails early on a bad --model
    except LightEmoError as exc:
        raise _fail(exc) from None
    if not videos:
        raise typer.Exit(code=1)

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames  {task.fields[faces]} faces  {task.fields[fps]:.1f} analysed fps"),
        TimeElapsedColumn(),
        console=err,
    )
    totals = {"videos": 0, "analysed": 0, "faces": 0}
    with progress:
        bar = progress.add_task(
            f"0/{len(videos)} videos", total=expected_frames(videos) or None, faces=0, fps=0.0
        )
        start = progress.get_time()

        def on_progress(event: ProgressEvent) -> None:
            totals["analysed"] += event.frames_analysed
            totals["faces"] += event.faces_seen
            if event.finished is not None:
                totals["videos"] += 1
                report = event.finished
                if report.status == "failed":
                    progress.console.print(f"[red]failed:[/] {report.path}: {report.reason}", highlight=False)
                for warning in report.warnings:
                    progress.console.print(f"[yellow]warning:[/] {report.path}: {warning}", highlight=False)
            elapsed = max(progress.get_time() - start, 1e-6)
            progress.update(
                bar,
                advance=event.frames_decoded,
                description=f"{totals['videos']}/{len(videos)} videos",
                faces=totals["faces"],
                fps=totals["analysed"] / elapsed,
            )

        try:
            reports = analyze_videos(
                videos, out, config, workers=workers, ray_address=ray_address, force=force,
                on_progress=on_progress,
            )
        except LightEmoError as exc:
            raise _fail(exc) from None
        except KeyboardInterrupt:
            err.print("interrupted: finished videos are kept, unfinished ones left no partial files")
            raise typer.Exit(code=130) from None
    _print_summary(reports)
    failed = len(missing) + sum(r.status == "failed" for r in reports)
    if failed:
        err.print(f"[red]{failed} input(s) failed[/]")
        raise typer.Exit(code=1)


def _print_summary(reports: list) -> None:
    from rich.table import Table

    table = Table(title="lightemo-video analyze", title_justify="left")
    for column in ("video", "duration", "faces", "dominant emotions", "status"):
        table.add_column(column)
    for r in reports:
        emotions = ", ".join(f"{name} {n}" for name, n in sorted(r.emotions.items(), key=lambda kv: -kv[1]))
        status = {"ok": "[green]ok[/]", "skipped": "[dim]skipped (done)[/]"}.get(
            r.status, f"[red]failed: {r.reason}[/]"
        )
        duration = f"{r.duration_s:.1f} s" if r.duration_s else "-"
        table.add_row(r.video_id, duration, str(r.faces) if r.status == "ok" else "-", emotions or "-", status)
    err.print(table)


@app.command("export")
def export_command(
    video_dir: Annotated[Path, typer.Argument(help="An analysed video folder: OUT/<video_id>.")],
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.csv,
    level: Annotated[Level, typer.Option(help="Rows per frame, second, face or segment.")] = Level.segment,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: stdout).")] = None,
) -> None:
    """Export timelines for spreadsheets, pandas or DuckDB."""
    try:
        text = export(video_dir, format, level, output)
    except LightEmoError as exc:
        raise _fail(exc) from None
    if text is not None:
        typer.echo(text, nl=False)



@app.command()
def evaluate(
    data: Annotated[
        Path, typer.Option(help="Labelled split: class-folder tree or fer2013.csv (PublicTest rows).")
    ] = Path("../shared/datasets/fer2013/test"),
    model: Annotated[
        str | None, typer.Option(help="Shipped model name or .keras/.tflite path (default model).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for metrics.json and the plot.")] = Path(
        "outputs/evaluation"
    ),
    latency_runs: Annotated[int, typer.Option(help="Single-image passes to time.")] = 1000,
    write_card: Annotated[bool, typer.Option(help="Store the figures in the model card.")] = False,
) -> None:
    """Measure accuracy, macro-F1, per-class scores, size and latency of a model."""
    from rich.table import Table

    from jobs.evaluate import evaluate as run_evaluation

    try:
        metrics = run_evaluation(data, model, out, latency_runs, write_card)
    except LightEmoError as exc:
        raise _fail(exc) from None
    for fmt, m in metrics["formats"].items():
        table = Table(title=f"{m['file']} on {metrics['images']} images", title_justify="left")
        for column in ("class", "precision", "recall", "F1", "support"):
            table.add_column(column, justify="right" if column != "class" else "left")
        for name, c in m["per_class"].items():
            table.add_row(name, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", str(c["support"]))
        table.caption = (
            f"accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  "
            f"{m['size_bytes'] / 1e6:.2f} MB  {m['latency']['mean_ms']:.3f} ms/image (mean, 1 thread)  "
            f"{m['throughput_images_per_s']:.0f} images/s batched"
        )
        err.print(table)
    typer.echo(out / "metrics.json")
