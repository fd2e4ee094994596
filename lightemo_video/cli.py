"""The ``lightemo-video`` command line: thin typer commands over the jobs and pipeline.

This is the only module that prints with rich; everything else returns values or raises
``LightEmoError``, which becomes a one-line message and exit code 1 here.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from lightemo_video.jobs.machine import tensorflow_defaults
from lightemo_video.jobs.recipes import RECIPES
from lightemo_video.model.errors import InputError, LightEmoError
from lightemo_video.pipeline import storage
from lightemo_video.pipeline.destinations import Output, open_output
from lightemo_video.pipeline.export import Format, Level, export
from lightemo_video.pipeline.memory import keep_freed_memory
from lightemo_video.pipeline.outputs import FACES, REPORT, RUN, STATUS, os_reason
from lightemo_video.pipeline.smoothing import Smoothing
from lightemo_video.pipeline.versions import tool_version

app = typer.Typer(
    help="Per-face emotion timelines from recordings and live cameras.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
err = Console(stderr=True, soft_wrap=True)  # one-line messages stay on one line


def _examples(*lines: str) -> str:
    """A command's ``--help`` epilog: one runnable command line per paragraph (rich
    joins single newlines)."""
    return "\n\n".join(["Examples:", *(f"  $ lightemo-video {line}" for line in lines)])


# Options shared by analyze, monitor and bench.
ModelOption = Annotated[
    str | None,
    typer.Option(help="Shipped model (plus, ferplus, fast, paper) or a .tflite/.keras path."),
]
TtaOption = Annotated[
    str | None,
    typer.Option(
        help="Test-time augmentation: flip (average each face with its mirror; more accurate, "
        "2x classifier cost) or none (default: what the model card says).",
        show_default=False,
    ),
]
SmoothingOption = Annotated[
    str,
    typer.Option(
        help="Per-face smoothing over time: hmm (default), ema, window (centred; files only) or "
        "none (raw per-frame probabilities). Raw values stay in detections.parquet.",
    ),
]
DwellOption = Annotated[
    float, typer.Option(help="Seconds an expression is expected to last (smoothing strength).")
]
RayAddressOption = Annotated[
    str | None, typer.Option(help="Use an existing Ray cluster (auto, HOST:PORT, ray://...).")
]


def _print_version(value: bool) -> None:
    """``--version``: eager, so it answers before any command runs."""
    if value:
        typer.echo(f"lightemo-video {tool_version()}")
        raise typer.Exit()


@app.callback(epilog=_examples("analyze videos/ --out outputs", "export outputs -o all.csv"))
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Per-face emotion timelines from recordings and live cameras."""
    # Our own one-line errors replace FFmpeg's and OpenCV's console chatter; Ray workers
    # inherit these settings from the driver.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    tensorflow_defaults()
    # The embedded Ray listens on 127.0.0.1 only, not on every network interface.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    keep_freed_memory()  # decoding allocates a frame buffer per frame: reuse it


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
        force=True,
    )


def _fail(exc: LightEmoError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    return typer.Exit(code=1)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``docker stop``, a scheduler's time limit), raised where Ctrl-C's
    KeyboardInterrupt would be, so it takes the same clean-up path."""


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (``init_ray`` keeps this
    handler, where Ray's own would exit with a crash dump)."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command(
    epilog=_examples(
        "train --data fer2013/train --recipe paper --name mymodel --out models/",
        "train --data fer2013.csv --epochs 2 --max-images 2000 --name smoke",
    )
)
def train(
    data: Annotated[
        Path, typer.Option(help="FER2013 train folder (class subfolders) or fer2013.csv.")
    ] = Path("../shared/datasets/fer2013/train"),
    recipe: Annotated[
        str, typer.Option(help=f"Named recipe from jobs/recipes.py: {', '.join(RECIPES)}.")
    ] = "paper",
    name: Annotated[str, typer.Option(help="File stem of the trained model.")] = "lightemonet",
    out: Annotated[Path, typer.Option(help="Where the model files and card go.")] = Path(
        "model/weights"
    ),
    run_dir: Annotated[
        Path | None, typer.Option(help="Checkpoints and logs; rerun with it to resume.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the recipe's epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the recipe's batch.")] = None,
    learning_rate: Annotated[
        float | None, typer.Option(help="Override the recipe's initial learning rate.")
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="Override the recipe's Keras dtype policy: float32 or mixed_bfloat16 "
            "(fast only on CPUs with AMX/AVX512-BF16)."
        ),
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from this trained .keras model's weights (fine-tune, warm restart)."
        ),
    ] = None,
    teacher: Annotated[
        list[Path] | None,
        typer.Option(
            help="Distil from this .keras model or teacher-probs .npz instead of the recipe's "
            "teacher; repeat it to average several (an ensemble).",
        ),
    ] = None,
    max_images: Annotated[
        int | None, typer.Option(help="Train on a stratified sample (smoke runs).")
    ] = None,
    export_only: Annotated[
        bool, typer.Option(help="Export the run's best checkpoint so far without training.")
    ] = False,
    ferplus_dir: Annotated[
        Path, typer.Option(help="FER+ votes, for recipes trained on FER+ labels.")
    ] = Path("../shared/datasets/ferplus"),
) -> None:
    """Train LightEmoNet on FER2013 and export .keras, int8 .tflite and a model card."""
    from lightemo_video.model.runtime import require_tensorflow

    try:
        require_tensorflow("train")
    except LightEmoError as exc:
        raise _fail(exc) from None
    from lightemo_video.jobs.train import train as run_training

    _setup_logging()
    if recipe not in RECIPES:
        raise _fail(
            LightEmoError("--recipe", f"unknown recipe '{recipe}'; known: {', '.join(RECIPES)}")
        )
    if precision not in (None, "float32", "mixed_bfloat16"):
        raise _fail(
            LightEmoError(
                "--precision", f"unknown policy '{precision}'; choose float32 or mixed_bfloat16"
            )
        )
    chosen = RECIPES[recipe].with_overrides(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        precision=precision,
        init_from=str(init_from) if init_from else None,
        teacher=tuple(map(str, teacher)) if teacher else None,
    )
    try:
        result = run_training(
            data,
            chosen,
            run_dir or Path("runs") / name,
            out,
            name,
            max_images=max_images,
            export_only=export_only,
            ferplus_dir=ferplus_dir,
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


@app.command(
    epilog=_examples(
        "analyze interview.mp4",
        "analyze videos/ --out outputs --sample-fps 5 --model fast --annotate",
        "analyze s3://recordings/2024/ --out s3://results/emotions/ --ray-address auto",
    )
)
def analyze(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Video files and/or folders (searched recursively), s3:// or gs:// objects or "
            "prefixes (listed recursively), http(s):// files.",
            show_default=False,
        ),
    ],
    out: Annotated[
        str, typer.Option("--out", "-o", help="Output folder, or s3:// / gs:// prefix.")
    ] = "outputs",
    sample_fps: Annotated[
        float, typer.Option(help="Frames analysed per second of video; 0 = every frame.")
    ] = 10.0,
    detector: Annotated[
        str | None, typer.Option(help="Face detector: blazeface, haar, ...")
    ] = None,
    model: ModelOption = None,
    tta: TtaOption = None,
    workers: Annotated[
        int | None, typer.Option(help="CPUs for the embedded Ray (default: all cores).")
    ] = None,
    ray_address: RayAddressOption = None,
    segment_frames: Annotated[
        int, typer.Option(help="Frames per parallel task within one file.")
    ] = 600,
    force: Annotated[bool, typer.Option(help="Redo videos that are already complete.")] = False,
    annotate: Annotated[
        bool, typer.Option(help="Also write annotated.mp4 (boxes, ids, emotions drawn).")
    ] = False,
    smoothing: SmoothingOption = "hmm",
    dwell_s: DwellOption = 1.0,
) -> None:
    """Analyse recordings into per-face emotion timelines.

    Parquet timelines under OUT/<video_id>/, with a timeline plot and report.html per video
    and OUT/report.html as an index. Reruns skip videos that are already complete.
    """
    from lightemo_video.pipeline.analyze import AnalyzeConfig
    from lightemo_video.pipeline.detect import DEFAULT_DETECTOR, DETECTORS
    from lightemo_video.pipeline.sources import find_inputs

    _setup_logging()
    if sample_fps < 0:
        raise _fail(
            LightEmoError("--sample-fps", f"must be 0 (every frame) or positive, got {sample_fps}")
        )
    detector = detector or DEFAULT_DETECTOR
    if detector not in DETECTORS:
        raise _fail(
            LightEmoError(
                "--detector", f"unknown detector '{detector}'; choose one of {', '.join(DETECTORS)}"
            )
        )
    videos, missing = find_inputs(paths)
    for problem in missing:
        err.print(f"[red]error:[/] {escape(str(problem))}", highlight=False)
    try:
        config = AnalyzeConfig(
            sample_fps=sample_fps,
            detector=detector,
            model=model,
            tta=tta,
            segment_frames=segment_frames,
            smoothing=Smoothing(smoothing, dwell_s),
        )
        config.fingerprint()  # fails early on a bad --model
    except LightEmoError as exc:
        raise _fail(exc) from None
    if not videos:
        raise typer.Exit(code=1)
    try:
        destination = _writable_output(out)  # before Ray starts and minutes of work are lost
    except LightEmoError as exc:
        raise _fail(exc) from None
    with destination:
        _analyze_into(
            destination, videos, len(missing), config, workers, ray_address, force, annotate
        )


def _writable_output(location: str) -> Output:
    """The output at ``location`` once a file could be written there.

    Raises:
        OutputError: it cannot be written (then nothing of it is kept open).
    """
    out = open_output(location)
    try:
        out.check_writable()
    except BaseException:
        out.close()
        raise
    return out


def _analyze_into(
    out: Output,
    videos: list,
    failed_inputs: int,
    config: object,
    workers: int | None,
    ray_address: str | None,
    force: bool,
    annotate: bool,
) -> None:
    """``analyze`` once its inputs (``failed_inputs`` were already reported) and output
    are known: progress, summary, reports, exit code."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lightemo_video.pipeline.orchestration import ProgressEvent, analyze_videos, expected_frames

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "frames  {task.fields[faces]} face detections  {task.fields[fps]:.1f} analysed fps"
        ),
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
                    progress.console.print(
                        f"[red]failed:[/] {escape(f'{report.path}: {report.reason}')}",
                        highlight=False,
                    )
                for warning in report.warnings:
                    progress.console.print(
                        f"[yellow]warning:[/] {escape(f'{report.path}: {warning}')}",
                        highlight=False,
                    )
            elapsed = max(progress.get_time() - start, 1e-6)
            progress.update(
                bar,
                advance=event.frames_decoded,
                description=f"{totals['videos']}/{len(videos)} videos",
                faces=totals["faces"],
                fps=totals["analysed"] / elapsed,
            )

        try:
            with _sigterm_as_interrupt():
                reports = analyze_videos(
                    videos,
                    out,
                    config,
                    workers=workers,
                    ray_address=ray_address,
                    force=force,
                    on_progress=on_progress,
                )
        except LightEmoError as exc:
            raise _fail(exc) from None
        except KeyboardInterrupt as exc:
            signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
            what = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
            err.print(f"{what}: finished videos are kept, unfinished ones left no partial files")
            raise typer.Exit(code=128 + signum) from None
    _print_summary(reports)
    _write_reports(out, reports, annotate)
    failed = failed_inputs + sum(r.status == "failed" for r in reports)
    if failed:
        err.print(f"[red]{failed} input(s) failed[/]")
        raise typer.Exit(code=1)


def _write_reports(out: Output, reports: list, annotate: bool) -> None:
    """Pictures and HTML for the videos analysed now, the ones still missing for videos
    skipped as done (e.g. ``annotated.mp4`` asked for only now), then the index."""
    from lightemo_video.pipeline.report import build_reports

    try:
        for report in reports:
            if report.status in ("ok", "skipped"):
                skipped = report.status == "skipped"
                folder = out.folder(report.video_id)
                out.push(
                    build_reports(
                        folder, annotate=annotate, missing_only=skipped, source=report.source
                    )
                )
    except LightEmoError as exc:
        err.print(f"[yellow]warning:[/] report not written: {escape(str(exc))}", highlight=False)
    _write_index(out)


def _tables(name: str) -> bool:
    """The files of an output folder an export reads (no pictures, pages or videos)."""
    return name.endswith((".parquet", ".json"))


def _index_inputs(name: str) -> bool:
    """The files of an output folder the index reads."""
    return name.endswith((f"/{RUN}", f"/{STATUS}", f"/{FACES}"))


def _write_index(out: Output) -> None:
    """OUT/report.html over every analysed video and monitored camera in ``out``."""
    from lightemo_video.pipeline.report import write_index

    try:
        folder = out.pull(_index_inputs)
        if not any(folder.glob(f"*/{RUN}")) and not any(folder.glob(f"*/{STATUS}")):
            return
        index = write_index(folder)
        out.push([index])
        err.print(f"report: {out.shown(index)}", highlight=False)
    except LightEmoError as exc:
        err.print(f"[yellow]warning:[/] report not written: {escape(str(exc))}", highlight=False)
    except OSError as exc:  # e.g. the disk is full: the analysed videos are still there
        reason = f"{out.shown(out.work / REPORT)}: cannot write it ({os_reason(exc)})"
        err.print(f"[yellow]warning:[/] report not written: {escape(reason)}", highlight=False)


def _print_summary(reports: list) -> None:
    from rich.table import Table

    table = Table(title="lightemo-video analyze", title_justify="left")
    for column in ("video", "duration", "faces", "dominant emotions", "status"):
        table.add_column(column)
    for r in reports:
        emotions = ", ".join(
            f"{name} {n}" for name, n in sorted(r.emotions.items(), key=lambda kv: -kv[1])
        )
        status = {"ok": "[green]ok[/]", "skipped": "[dim]skipped (done)[/]"}.get(
            r.status, f"[red]failed: {escape(str(r.reason))}[/]"
        )
        duration = f"{r.duration_s:.1f} s" if r.duration_s else "-"
        faces = str(r.faces) if r.status == "ok" else "-"
        table.add_row(escape(r.video_id), duration, faces, emotions or "-", status)
    err.print(table)


@app.command(
    "export",
    epilog=_examples(
        "export outputs/interview -o interview.csv",
        "export outputs --level face -o faces.parquet",
        "export outputs/interview --level second --format json",
    ),
)
def export_command(
    video_dir: Annotated[
        str,
        typer.Argument(
            help="An analysed video folder (OUT/<video_id>), an output folder (OUT): all its "
            "videos in one table, or a camera's folder (OUT/<stream_id>); local, s3:// or gs://.",
            show_default=False,
        ),
    ],
    format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format (default: from -o's extension, else csv).",
            show_default=False,
        ),
    ] = None,
    level: Annotated[
        Level, typer.Option(help="Rows per frame, second, face or segment.")
    ] = Level.segment,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Export timelines for spreadsheets, pandas or DuckDB."""
    try:
        with _outputs_at(video_dir, keep=_tables) as (_, local):
            text = export(local, format, level, output)
    except LightEmoError as exc:
        raise _fail(exc) from None
    if text is not None:
        typer.echo(text, nl=False)


@app.command(
    epilog=_examples(
        "bench --clip interview.mp4 --workers 4",
        "bench --clip interview.mp4 --model fast --detector haar",
        "bench --scaling --cores-per-node 16",
    )
)
def bench(
    clip: Annotated[Path, typer.Option(help="Video to analyse, every frame.")] = Path(
        "../shared/sample_videos/face2face_demo_obama.mp4"
    ),
    out: Annotated[Path, typer.Option(help="Folder for bench.json.")] = Path("outputs/bench"),
    workers: Annotated[int | None, typer.Option(help="Ray CPUs (default: all cores).")] = None,
    detector: Annotated[str | None, typer.Option(help="Face detector to time.")] = None,
    model: ModelOption = None,
    tta: TtaOption = None,
    peer_python: Annotated[
        str | None, typer.Option(help="Python with the `fer` package, to time it side by side.")
    ] = None,
    scaling: Annotated[
        bool,
        typer.Option(
            help="Instead: frames/s with 1 and 2 workers on the clip repeated 10 times (default "
            "--sample-fps), the scaling efficiency, and the nodes 1,000 hours of 1080p a day need."
        ),
    ] = False,
    cores_per_node: Annotated[
        int, typer.Option(help="Cores per node, for --scaling's estimate.")
    ] = 16,
) -> None:
    """Measure analysed frames/s end to end, or how it scales with workers.

    Also decoding frames per CPU second (and the fer package's), and what a face costs
    against a frame's detection; --scaling runs 1..N workers instead.
    """
    from lightemo_video.jobs.bench import bench as run_bench

    _setup_logging()
    if scaling:
        return _bench_scaling(clip, out, cores_per_node)
    try:
        result = run_bench(clip, out, workers, None, detector, peer_python, model, tta)
    except LightEmoError as exc:
        raise _fail(exc) from None
    a, d = result["analyze"], result["decode_frames_per_cpu_s"]
    err.print(
        f"{clip.name} ({result['resolution']}, {result['frames']} frames, {result['cpus']} CPUs, "
        f"{result['detector']}, {result['model']} tta={result['tta']}): "
        f"decoding {d['pyav']} frames per CPU second "
        f"(OpenCV to BGR {d['opencv']}), ready for detection {d['pyav_ready']} "
        f"(OpenCV {d['opencv_ready']}), "
        f"analyze {a['frames_per_s']} frames/s, a face in {a['frames_with_face']:.1%} of frames, "
        f"{a['frames_with_more_than_one_face']} frames with more than one face"
        + (
            f"; a face costs {c['model_ms_per_face']} ms against "
            f"{c['detector_ms_per_frame']} ms to detect a frame "
            f"({c['face_to_frame']}x)"
            if (c := result["stage_costs"]).get("faces")
            else ""
        )
        + (
            f", fer {result['fer_peer']['fps']} frames/s ({result['speedup_vs_fer']}x)"
            if "fer_peer" in result
            else ""
        )
    )
    typer.echo(out / "bench.json")


def _bench_scaling(clip: Path, out: Path, cores_per_node: int) -> None:
    """``bench --scaling``: run it and print one line per worker count and the estimate."""
    from lightemo_video.jobs.bench import scaling

    try:
        result = scaling(clip, out, cores_per_node=cores_per_node)
    except LightEmoError as exc:
        raise _fail(exc) from None
    err.print(
        f"{result['clip']} ({result['resolution']}, {result['frames']} frames, "
        f"sample {result['sample_fps']} fps) on {result['machine']['cpu']}, "
        f"decode-only {result['decode_only_frames_per_s']} frames/s:"
    )
    for run in result["runs"]:
        err.print(
            f"  {run['workers']} worker(s): {run['video_frames_per_s']} video frames/s "
            f"({run['analysed_frames_per_s']} analysed), {run['realtime_factor']}x real time, "
            f"efficiency {run['efficiency']:.0%}"
        )
    e = result["estimate"]
    err.print(
        f"1080p needs {e['worker_seconds_per_video_second_1080p']} worker-s per video second: "
        f"{e['hours_per_day']:.0f} hours a day need {e['cores']} cores = {e['nodes']} nodes of "
        f"{e['cores_per_node']} cores"
    )
    typer.echo(out / "scaling.json")


@app.command(
    epilog=_examples(
        "evaluate --data fer2013/test --model plus",
        "evaluate --model ferplus --labels ferplus",
        "evaluate --video-benchmark outputs/video-benchmark/test --split test",
        "evaluate --data fer2013.csv --model mymodel.int8.tflite --latency-runs 100",
    )
)
def evaluate(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Labelled split: class-folder tree or fer2013.csv (PublicTest rows) "
            "(default: ../shared/datasets/fer2013/test, or .../train with --validation).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Shipped model name or .keras/.tflite path (default model).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for metrics.json and the plot.")] = Path(
        "outputs/evaluation"
    ),
    latency_runs: Annotated[int, typer.Option(help="Single-image passes to time.")] = 1000,
    write_card: Annotated[bool, typer.Option(help="Store the figures in the model card.")] = False,
    tta: Annotated[
        str | None,
        typer.Option(
            help="Test-time augmentation: none or flip "
            "(default: as the model card says, like the pipeline)."
        ),
    ] = None,
    validation: Annotated[
        bool,
        typer.Option(
            help="Score the validation slice of the train data the model was selected on."
        ),
    ] = False,
    labels: Annotated[
        str | None,
        typer.Option(
            help="Score against fer2013's own labels or the ferplus crowd votes "
            "(default: the labels the model was trained for).",
            show_default=False,
        ),
    ] = None,
    ferplus_dir: Annotated[
        Path, typer.Option(help="FER+ votes (fer2013new.csv, fer2013_to_ferplus.csv).")
    ] = Path("../shared/datasets/ferplus"),
    calibrate: Annotated[
        bool,
        typer.Option(
            help="Fit the model's confidence temperature on its validation slice "
            "and store it in its card."
        ),
    ] = False,
    video_benchmark: Annotated[
        Path | None,
        typer.Option(
            help="Score the model on video instead: a benchmark folder (built there first from "
            "--data when empty; --split picks validation or test faces).",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Video benchmark faces: validation or test.")
    ] = "validation",
    smoothing: SmoothingOption = "hmm",
    dwell_s: DwellOption = 1.0,
) -> None:
    """Measure a model: accuracy, macro-F1, per-class scores, size and latency.

    Or its confidence calibration (--calibrate), or how it does on video
    (--video-benchmark).
    """
    from rich.table import Table

    from lightemo_video.jobs.evaluate import evaluate as run_evaluation

    if video_benchmark is not None:
        return _evaluate_on_video(
            video_benchmark, split, data, model, out, Smoothing(smoothing, dwell_s)
        )
    try:
        if data is None or calibrate:
            data = data or Path("../shared/datasets/fer2013") / (
                "train" if validation or calibrate else "test"
            )
        if calibrate:
            from lightemo_video.jobs.evaluate import calibrate as fit_temperature

            result = fit_temperature(data, model, ferplus_dir)
            err.print(
                f"temperature {result['temperature']} "
                f"({result['labels']} labels, {result['images']} faces): "
                f"calibration error {result['ece_before']:.3f} -> {result['ece_after']:.3f}, "
                f"NLL {result['nll_before']:.3f} -> {result['nll_after']:.3f}; "
                "stored in the model card"
            )
            return None
        metrics = run_evaluation(
            data, model, out, latency_runs, write_card, tta, validation, labels, ferplus_dir
        )
    except LightEmoError as exc:
        raise _fail(exc) from None
    for m in metrics["formats"].values():
        title = f"{m['file']} on {metrics['images']} images"
        if m["test_time_augmentation"] != "none":
            title += f" (test-time augmentation: {m['test_time_augmentation']})"
        table = Table(title=title, title_justify="left")
        for column in ("class", "precision", "recall", "F1", "support"):
            table.add_column(column, justify="right" if column != "class" else "left")
        for name, c in m["per_class"].items():
            table.add_row(
                name,
                f"{c['precision']:.3f}",
                f"{c['recall']:.3f}",
                f"{c['f1']:.3f}",
                str(c["support"]),
            )
        table.caption = (
            f"accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  "
            f"{m['size_bytes'] / 1e6:.2f} MB  "
            f"{m['latency']['mean_ms']:.3f} ms/image (mean, 1 thread)  "
            f"{m['throughput_images_per_s']:.0f} images/s batched"
        )
        err.print(table)
    typer.echo(out / "metrics.json")


def _evaluate_on_video(
    bench: Path, split: str, data: Path | None, model: str | None, out: Path, smoothing: Smoothing
) -> None:
    """``evaluate --video-benchmark``: build the clips if needed, run analyze, print scores."""
    from lightemo_video.jobs.video_benchmark import TRUTH_FILE, build_benchmark, score_benchmark
    from lightemo_video.pipeline.analyze import AnalyzeConfig

    try:
        if not (bench / TRUTH_FILE).is_file():
            err.print(f"building the {split} video benchmark in {bench} ...")
            build_benchmark(data or Path("../shared/datasets/fer2013"), bench, split)
        metrics = score_benchmark(
            bench, AnalyzeConfig(model=model, smoothing=smoothing), out, [smoothing]
        )
    except LightEmoError as exc:
        raise _fail(exc) from None
    d = metrics["detection"]
    err.print(
        f"{metrics['clips']} clips, {metrics['frames']} frames: face recall {d['recall']:.3f}, "
        f"precision {d['precision']:.3f}, id switches {d['id_switches']}"
    )
    for name, scores in metrics.items():
        if isinstance(scores, dict) and "pipeline" in scores:
            p, o = scores["pipeline"], scores["oracle_boxes"]
            err.print(
                f"{name:>10}: macro-F1 FER+ {p['label_ferplus']['macro_f1']:.3f} "
                f"(true boxes {o['label_ferplus']['macro_f1']:.3f}), "
                f"FER2013 {p['label']['macro_f1']:.3f}; "
                f"{p['label_changes_per_s']:.2f} label changes/s "
                f"(truth {p['true_changes_per_s']:.2f})"
            )
    typer.echo(out / "metrics.json")


@app.command(epilog=_examples("report outputs", "report outputs/interview --annotate"))
def report(
    folder: Annotated[
        str,
        typer.Argument(
            help="An output folder (OUT) or one video folder (OUT/<video_id>); local, s3:// or "
            "gs://.",
            show_default=False,
        ),
    ],
    annotate: Annotated[
        bool, typer.Option(help="Also write annotated.mp4: boxes and emotions on every frame.")
    ] = False,
) -> None:
    """Rebuild plots and reports from existing outputs, without re-analysing.

    timeline.png and report.html (and annotated.mp4) per video; an output folder also
    gets its index OUT/report.html.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lightemo_video.pipeline.report import build_reports

    _setup_logging()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("videos"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # no stray bar lines in logs and pipes
    )
    bar = progress.add_task("reports", total=None)

    def on_video(video_dir: Path, done: int, total: int) -> None:
        progress.update(bar, description=video_dir.name, completed=done, total=total)

    try:
        with progress, _outputs_at(folder) as (out, local):
            written = build_reports(local, annotate=annotate, on_video=on_video)
            out.push(written)
            shown = [out.shown(path) for path in written]
    except LightEmoError as exc:
        raise _fail(exc) from None
    for path in shown:
        typer.echo(path)


@contextmanager
def _outputs_at(
    location: str, keep: Callable[[str], bool] | None = None
) -> Iterator[tuple[Output, Path]]:
    """An output folder or object storage prefix, and a local folder with its files
    (``keep`` filters their names) for readers made for folders.

    Raises:
        InputError: a prefix holding nothing (no such bucket or prefix).
    """
    with open_output(location) as out, out.view(keep) as local:
        if storage.is_url(location) and not any(local.iterdir()):
            raise InputError(out.label, "nothing here: no such bucket or prefix, or it is empty")
        yield out, local


@app.command(
    epilog=_examples(
        "monitor rtsp://user:pass@192.168.1.20:554/stream1 --out cameras",
        "monitor rtsp://cam1/live rtsp://cam2/live --sample-fps 2 --duration 3600",
    )
)
def monitor(
    urls: Annotated[
        list[str],
        typer.Argument(
            metavar="URL",
            help="Camera URLs like rtsp://user:pass@host:port/path (credentials optional; "
            "never shown or stored).",
            show_default=False,
        ),
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="Output folder or s3:// / gs:// prefix; each camera writes OUT/<stream_id>/ "
            "(to object storage: each part uploaded in the background when it rolls).",
        ),
    ] = "outputs",
    sample_fps: Annotated[
        float, typer.Option(help="Frames analysed per second per camera; 0 = every frame it sends.")
    ] = 5.0,
    roll_seconds: Annotated[
        float,
        typer.Option(
            help="Seconds per Parquet part; summaries, plot and report refresh with "
            "each part (less often once that takes over a tenth of the time)."
        ),
    ] = 60.0,
    duration: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds (default: until Ctrl-C or SIGTERM)."),
    ] = None,
    ray_address: RayAddressOption = None,
    model: ModelOption = None,
    tta: TtaOption = None,
    smoothing: SmoothingOption = "hmm",
    dwell_s: DwellOption = 1.0,
) -> None:
    """Watch live cameras and keep per-face emotion timelines under OUT/<stream_id>/.

    One Ray actor per camera; reconnects by itself; a Parquet part every --roll-seconds plus
    status.json. Ctrl-C or SIGTERM writes the last part and exits (as a systemd service,
    set KillMode=mixed: SIGTERM sent to every process would stop Ray's workers first).
    """
    from rich.live import Live

    from lightemo_video.model.errors import StreamError
    from lightemo_video.pipeline.analyze import AnalyzeConfig
    from lightemo_video.pipeline.monitor import MonitorConfig, monitor_cameras
    from lightemo_video.pipeline.streams import mask_url

    _setup_logging()
    for url in urls:
        if "://" not in url:
            raise _fail(
                StreamError(
                    mask_url(url),
                    "not a camera URL; expected rtsp://host:port/path (user:pass@ optional)",
                )
            )
    if duration is not None and duration <= 0:
        raise _fail(LightEmoError("--duration", f"must be positive, got {duration}"))
    try:
        config = MonitorConfig(
            analyze=AnalyzeConfig(
                sample_fps=sample_fps, model=model, tta=tta, smoothing=Smoothing(smoothing, dwell_s)
            ),
            roll_seconds=roll_seconds,
        )
        config.analyze.fingerprint()  # fails early on a missing or broken model
        _writable_output(out).close()  # before Ray starts; the cameras write on their nodes
    except LightEmoError as exc:
        raise _fail(exc) from None
    logging.getLogger("lightemo_video").setLevel(logging.WARNING)  # the live table shows the rest
    try:
        with Live(_camera_table([]), console=err, refresh_per_second=2) as live:
            statuses = monitor_cameras(
                urls,
                out,
                config,
                duration_s=duration,
                ray_address=ray_address,
                on_status=lambda s: live.update(_camera_table(s)),
            )
            live.update(_camera_table(statuses))
    except LightEmoError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:  # before any camera started: nothing was written
        err.print("interrupted before monitoring started")
        raise typer.Exit(code=130) from None
    with open_output(out) as destination:
        _write_index(destination)
    for status in statuses:
        typer.echo(storage.join(str(storage.display(out)), status["stream_id"]))
    silent = [s for s in statuses if not s.get("frames_received")]
    if silent:
        names = ", ".join(s["url"] for s in silent)
        err.print(
            f"[red]{len(silent)} camera(s) never sent a frame:[/] {escape(names)}", highlight=False
        )
        raise typer.Exit(code=1)


def _camera_table(statuses: list[dict]):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="lightemo-video monitor", title_justify="left")
    for column in (
        "camera",
        "state",
        "fps in/analysed",
        "faces",
        "emotions now",
        "reconnects",
        "dropped",
        "parts/rows",
        "lag",
        "last error",
    ):
        table.add_column(column, overflow="fold")
    colours = {"live": "green", "connecting": "yellow", "reconnecting": "red", "stopped": "dim"}
    for s in statuses:
        state = s.get("state", "?")
        fps_in, fps_an = s.get("fps_in"), s.get("fps_analysed")
        emotions = ", ".join(
            f"{e['face_id']}: {e['emotion']} {e['confidence']:.2f}"
            for e in s.get("emotions_now", [])
        )
        lag = s.get("lag_s")
        waiting = s.get("uploads_waiting") or 0
        table.add_row(
            escape(s.get("stream_id", "?")),
            f"[{colours.get(state, 'white')}]{state}[/]",
            "-" if fps_in is None else f"{fps_in:.1f} / {fps_an or 0:.1f}",
            str(s.get("faces_now", 0)),
            escape(emotions) or "-",
            str(s.get("reconnects", 0)),
            str(s.get("frames_dropped", 0)),
            f"{s.get('parts', 0)}/{s.get('rows', 0)}"
            + (f" ({waiting} to upload)" if waiting else ""),
            "-" if lag is None else f"{lag:.1f} s",
            escape(s.get("last_error") or s.get("upload_error") or "-"),
        )
    return table


if __name__ == "__main__":  # python -m lightemo_video.cli
    app()
