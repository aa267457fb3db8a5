"""`mnist eval`: one run's scores, or an ensemble's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_tui.cli.app import (
    DataRoot,
    Plain,
    RunsDir,
    app,
    data_root_for,
    print_result,
    weights_run,
)
from mnist_tui.errors import MnistError
from mnist_tui.ui.progress import count_progress


@app.command("eval")
def eval_command(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="RUN",
            help="Run id, unique prefix, folder path or `latest` (several with --ensemble).",
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Split to evaluate: test or val.")] = "test",
    ensemble: Annotated[
        bool,
        typer.Option(
            "--ensemble",
            help="Average the probabilities of RUN RUN ...; report the ensemble's accuracy "
            "next to each member's.",
        ),
    ] = False,
    sweep: Annotated[
        str | None,
        typer.Option(
            help="With --ensemble: the members are the sweep NAME's best --top K finished "
            "trials, by best validation accuracy (never test).",
            metavar="NAME",
        ),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(help="With --sweep: how many of its best trials to ensemble.", metavar="K"),
    ] = None,
    png: Annotated[
        bool,
        typer.Option(
            "--png", help="Write confusion-SPLIT.png and mistakes-SPLIT.png into the run."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    device: Annotated[
        str | None,
        typer.Option(help="Device to evaluate on. Default: the run's own when present, else cpu."),
    ] = None,
    ctx: typer.Context = None,  # type: ignore[assignment]  # Typer fills it in
    runs_dir: RunsDir = Path("runs"),
    data_root: DataRoot = Path("data"),
    plain: Plain = False,
) -> None:
    """Accuracy, loss, confusion matrix and per-class scores of a run's best checkpoint."""
    from mnist_tui.evaluate.core import SPLITS, evaluate_run

    if split not in SPLITS:  # checked before loading anything
        raise MnistError(f"--split {split!r}: choose one of {', '.join(SPLITS)}.")
    if sweep is not None or top is not None:
        runs = _sweep_members(runs, ensemble, sweep, top, runs_dir)
    if ensemble:
        if png:
            raise MnistError(
                "--png draws one run's confusion matrix and mistakes: drop it for --ensemble."
            )
        _eval_ensemble(ctx, runs or [], split, as_json, device, runs_dir, data_root, plain)
        return
    if runs and len(runs) > 1:
        raise MnistError(
            f"eval takes one run, got {len(runs)}; add --ensemble to evaluate them together."
        )
    folder = weights_run(runs[0] if runs else None, runs_dir)
    data_root = data_root_for(ctx, data_root, folder)
    with count_progress(live=not plain, what=f"evaluating {split} split") as tick:
        evaluation = evaluate_run(folder, split, data_root, device, on_batch=tick)
    report = evaluation.report
    if png:
        from mnist_tui.evaluate.png import write_eval_pngs

        written = write_eval_pngs(folder, evaluation)
        if not as_json:
            print("wrote " + ", ".join(str(p) for p in written))
    if as_json:
        import json

        print(json.dumps(report.to_json(), indent=2))
        return
    from mnist_tui.evaluate.view import eval_view

    print_result(eval_view(report), plain)


def _sweep_members(
    runs: list[str] | None, ensemble: bool, sweep: str | None, top: int | None, runs_dir: Path
) -> list[str]:
    """The run folders of `--sweep NAME --top K`, checked before any model is loaded."""
    from mnist_tui.runs.folders import sweep_best_runs

    if sweep is None:
        raise MnistError("--top K picks a sweep's best trials: add --ensemble --sweep NAME.")
    if not ensemble:
        raise MnistError("--sweep NAME evaluates the sweep's best trials together: add --ensemble.")
    if top is None:
        raise MnistError("--sweep NAME needs --top K, how many of its best trials to ensemble.")
    if runs:
        raise MnistError("Give RUN RUN ... or --sweep NAME --top K, not both.")
    return [str(run.path) for run in sweep_best_runs(runs_dir, sweep, top)]


def _eval_ensemble(
    ctx: typer.Context,
    runs: list[str],
    split: str,
    as_json: bool,
    device: str | None,
    runs_dir: Path,
    data_root: Path,
    plain: bool,
) -> None:
    """`mnist eval --ensemble RUN RUN ...`: the averaged probabilities' accuracy."""
    from mnist_tui.evaluate.ensemble import evaluate_ensemble

    folders = [weights_run(run, runs_dir) for run in runs]
    if folders:  # members share a dataset; the first one's folder stands for all
        data_root = data_root_for(ctx, data_root, folders[0])
    report = evaluate_ensemble(folders, split, data_root, device).to_json()
    if as_json:
        import json

        print(json.dumps(report, indent=2))
        return
    from mnist_tui.ui.tables import ensemble_table

    print_result(ensemble_table(report), plain)
