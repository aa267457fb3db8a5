"""Where a study lives: an SQLite file under the runs folder, or a PostgreSQL database.

A password never travels in a URL here: a URL holding one is refused before anything is
printed, logged or written (libpq reads it from PGPASSWORD or ~/.pgpass instead), so every
URL this tool shows or stores is safe to show. docs/notes/issue-21.md says why SQLite and
not Optuna's journal file (a measurement of parallel workers on both).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mnist_tui.errors import ConfigError, MnistError, brief

#: The study file of a runs folder (a file: `mnist runs` lists only folders).
SQLITE_NAME = "sweeps.db"
#: A worker records a heartbeat this often; a trial silent for GRACE_S (a worker killed
#: outright, a lost machine) is failed by the next worker and retried with its parameters.
HEARTBEAT_S = 10
GRACE_S = 40
#: Tests (and impatient operators) shorten both: MNIST_SWEEP_HEARTBEAT=2 beats every 2 s
#: and fails a trial silent for 8 s (the same 1:4 ratio).
HEARTBEAT_ENV = "MNIST_SWEEP_HEARTBEAT"
MAX_RETRY = 3
_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2", "postgres")


class StorageError(MnistError):
    """The study storage cannot be reached or used."""


def default_url(runs_dir: Path) -> str:
    return f"sqlite:///{(Path(runs_dir) / SQLITE_NAME).resolve()}"


def check_url(url: str) -> str:
    """The storage URL, normalised; a password or an unknown kind is one ConfigError line."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        # Never echo it: a malformed URL may still hold a password.
        raise ConfigError(
            "--storage is not a valid URL: use sqlite:///FILE or postgresql://USER@HOST[:PORT]/DB."
        ) from None
    if password is not None:
        raise ConfigError(
            "--storage must not hold a password (it would show up in process lists and "
            "logs): remove it from the URL and put it in PGPASSWORD or ~/.pgpass "
            "(HOST:PORT:DB:USER:PASSWORD, chmod 600)."
        )
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"--storage {parts.scheme or url!r}: use sqlite:///FILE or "
            "postgresql://USER@HOST[:PORT]/DB."
        )
    if parts.scheme == "postgres":  # SQLAlchemy 2 knows only the long name
        url = "postgresql" + url[len("postgres") :]
    if parts.scheme.startswith("postgresql") and not parts.path.strip("/"):
        raise ConfigError("--storage needs a database name: postgresql://USER@HOST[:PORT]/DB.")
    if parts.scheme == "sqlite" and not url.startswith("sqlite:///"):
        raise ConfigError("--storage sqlite URLs name a file: sqlite:///path/to/sweeps.db.")
    return url


def heartbeat() -> tuple[int, int]:
    """(interval, grace period) in seconds: the defaults, or $MNIST_SWEEP_HEARTBEAT's."""
    text = os.environ.get(HEARTBEAT_ENV, "").strip()
    if not text:
        return HEARTBEAT_S, GRACE_S
    try:
        interval = int(text)
    except ValueError:
        interval = 0
    if interval < 1:
        raise ConfigError(f"{HEARTBEAT_ENV}={text!r}: give whole seconds, 1 or more.")
    return interval, 4 * interval


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def open_storage(url: str, *, create: bool = True) -> Any:
    """Optuna's RDBStorage for `url`, with heartbeats and retries of lost trials.

    `create=False` (join, resume, show): an SQLite file that does not exist is an error,
    not a new empty database.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    engine_kwargs: dict[str, Any] = {}
    if is_sqlite(url):
        path = Path(url[len("sqlite:///") :])
        if not create and not path.is_file():
            raise StorageError(
                f"No sweeps here: {path} does not exist (see --runs-dir, --storage)."
            )
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StorageError(f"Cannot create {path.parent}: {e.strerror or e}.") from None
        # Workers wait for each other's short writes instead of failing with "locked".
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    # Heartbeats are "experimental" in Optuna since 2.8; the warning says nothing to users.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    interval, grace = heartbeat()
    try:
        storage = optuna.storages.RDBStorage(
            engine_url(url),
            engine_kwargs=engine_kwargs,
            heartbeat_interval=interval,
            grace_period=grace,
            **{_callback_arg(): retry_callback(MAX_RETRY)},
        )
        if is_sqlite(url):
            _fast_sqlite(storage.engine)
        return storage
    except ImportError as e:
        raise StorageError(
            f"{brief(e)}: PostgreSQL storage needs psycopg2 (pip install 'mnist-tui[postgres]')."
        ) from None
    except Exception as e:  # SQLAlchemy's OperationalError and friends: one line
        raise unreachable(url, e) from None


def _fast_sqlite(engine: Any) -> None:
    """WAL and synchronous=NORMAL: readers do not wait for the writer, and a commit is not an
    fsync. A crash of the machine may lose the last commits, never corrupt the file; every
    trial's results are also in its run folder. (Measured: docs/notes/issue-21.md.)
    """
    from sqlalchemy import event

    def pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # connections opened while creating the tables get the pragmas too


def engine_url(url: str) -> str:
    """The URL SQLAlchemy gets: PostgreSQL through psycopg2, the driver pyproject names.

    SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which is not a dependency here.
    """
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def retry_callback(max_retry: int | None) -> Any:
    """Optuna's callback that queues a lost trial again with its parameters."""
    from optuna import storages

    cls = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)  # Optuna >= 4.9
    return (cls or storages.RetryFailedTrialCallback)(max_retry=max_retry)


def _callback_arg() -> str:
    from optuna import storages

    new = hasattr(storages, "RetryHeartbeatStaleTrialCallback")
    return "heartbeat_stale_trial_callback" if new else "failed_trial_callback"


def unreachable(url: str, error: BaseException) -> StorageError:
    """One line for a storage that cannot be reached; the URL holds no password."""
    return StorageError(f"Cannot use the study storage {url}: {brief(error, 160)}.")
