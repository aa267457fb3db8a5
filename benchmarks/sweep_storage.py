"""Which file storage for `mnist sweep`: Optuna's RDB on SQLite, or its journal file?

K worker processes share one study and run trials whose objective does no training: it
reports EPOCHS intermediate values (as the pruning Callback does, once per epoch) and asks
the pruner each time, so the figure is the storage's own cost per trial under contention.
Prints a markdown table: trials/s in all, ms of storage work per trial, and errors.

    python -m benchmarks.sweep_storage [--trials 200] [--epochs 5] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path


def _storage(kind: str, folder: Path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if kind == "sqlite":
        from mnist_tui.sweep.storage import open_storage

        return open_storage(f"sqlite:///{folder / 'sweeps.db'}")  # what `mnist sweep` uses
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(folder / "journal.log")))


def _worker(kind: str, folder: str, trials: int, epochs: int, errors) -> None:
    import optuna

    study = optuna.load_study(
        study_name="bench",
        storage=_storage(kind, Path(folder)),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
    )

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        for epoch in range(1, epochs + 1):
            trial.report(x * epoch, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x

    try:
        study.optimize(objective, n_trials=trials)
    except Exception as e:  # a locked database and the like: counted, not hidden
        errors.put(f"{type(e).__name__}: {e}"[:120])


def measure(kind: str, workers: int, trials: int, epochs: int) -> tuple[float, float, int]:
    import optuna

    with tempfile.TemporaryDirectory() as folder:
        optuna.create_study(
            study_name="bench", storage=_storage(kind, Path(folder)), direction="maximize"
        )
        errors = mp.get_context("spawn").Queue()
        per_worker = trials // workers
        procs = [
            mp.get_context("spawn").Process(
                target=_worker, args=(kind, folder, per_worker, epochs, errors)
            )
            for _ in range(workers)
        ]
        started = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        seconds = time.perf_counter() - started
        study = optuna.load_study(study_name="bench", storage=_storage(kind, Path(folder)))
        done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        failures = 0
        while not errors.empty():
            errors.get()
            failures += 1
    return done / seconds, 1000 * seconds * workers / max(done, 1), failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    print("| storage | workers | trials/s | ms per trial per worker | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind in ("sqlite", "journal"):
        for workers in args.workers:
            rate, ms, failures = measure(kind, workers, args.trials, args.epochs)
            print(f"| {kind} | {workers} | {rate:.1f} | {ms:.0f} | {failures} |", flush=True)


if __name__ == "__main__":
    main()
