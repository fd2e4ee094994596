"""The ``lightemo-video`` command line: thin typer commands over the jobs and pipeline.

This is the only module that prints with rich; everything else returns values or raises
``LightEmoError``, which becomes a one-line message and exit code 1 here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from model.errors import LightEmoError

app = typer.Typer(
    help="Per-face emotion timelines from recordings and live cameras.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
err = Console(stderr=True)


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
