"""Data-parallel training on torch.distributed: launcher, process group, shards, sums.

`mnist train --nproc N` runs `launch()`: torch.distributed's own elastic agent (what
`torchrun` runs) starts N copies of `python -m mnist_tui train ...`; under `torchrun` the
agent is torchrun itself. Each copy finds RANK/WORLD_SIZE/MASTER_ADDR in its environment
and calls `setup()`.

What a learner can reason about (docs/notes/issue-22.md has the user-facing text):

- `--batch-size` is the global batch. Every rank draws the same permutation from the same
  seeded generator and takes its contiguous slice of every global batch: per step, the N
  processes together see exactly the images one process would.
- Each rank's mean loss is weighted by its share of the global batch (n_r * N / B) before
  DDP averages the gradients over the N ranks, so the average is the gradient of the
  global batch's mean loss even when a batch does not split evenly.
- Loss sums, correct counts and sample counts are all-reduced: metrics are global.
  Validation and test are split into N contiguous shards and their sums reduced.
- BatchNorm: on CUDA, SyncBatchNorm (statistics of the global batch, as one process).
  torch's SyncBatchNorm does not run on the CPU, so there each rank normalises its share
  with its own batch statistics, DDP broadcasts rank 0's running averages before every
  step, and rank 0's buffers are broadcast before every evaluation.
- Random numbers: the model is built from the run's seed on every rank (DDP also
  broadcasts rank 0's weights). Then torch's generator, which dropout and --augment draw
  from, is seeded with seed + rank: each rank warps its own images differently. last.pt
  keeps every rank's generator states, so a resumed run continues each rank's stream.
- EMA: every rank updates its own average from identical weights; rank 0's is
  checkpointed, and evaluation uses rank 0's buffers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from mnist_tui.data.tensors import Split
from mnist_tui.errors import ConfigError, MnistError, RunError, brief
from mnist_tui.runs.folders import RunFolder, resume_command
from mnist_tui.train.devices import resolve_device
from mnist_tui.train.events import Callback, RunStarted
from mnist_tui.train.loop import CheckpointStore, EvalResult, evaluate

#: Environment of a process that `mnist train --nproc` started: its launcher names a rank
#: that dies, so the ranks that lose contact with it stay quiet.
LAUNCHER_ENV = "MNIST_TUI_LAUNCHER"
#: Where rank 0 notes the run folder for the launcher's messages.
RUN_NOTE_ENV = "MNIST_TUI_RUN_NOTE"
#: Exit code of a rank that stopped because another rank went away.
PEER_LOST_EXIT = 3
#: How long a collective may wait for a silent rank before this rank gives up (seconds).
#: Dead ranks are noticed at once (their sockets close); this bounds a hung one.
TIMEOUT_ENV = "MNIST_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 300


class DistributedError(MnistError):
    """A rank of a data-parallel job failed, or the job could not start."""


@dataclass
class Cluster:
    """This process's place in the job, and the collectives training needs."""

    rank: int
    world_size: int
    local_rank: int
    nodes: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def launched_by_mnist(self) -> bool:
        return os.environ.get(LAUNCHER_ENV) == "1"

    def describe(self) -> dict[str, Any]:
        """config.toml's [distributed] table."""
        return {
            "world_size": self.world_size,
            "nodes": self.nodes,
            "nproc_per_node": self.world_size // self.nodes,
            "backend": self.backend,
            "launcher": "mnist train --nproc" if self.launched_by_mnist else "torchrun",
        }

    # --- the model ----------------------------------------------------------------------

    def seed_rank(self, seed: int) -> None:
        """Each rank's own stream for dropout and --augment (after the model is built)."""
        torch.manual_seed(seed + self.rank)

    def wrap(self, model: nn.Module) -> nn.Module:
        """DDP around `model` (SyncBatchNorm on CUDA); `model` keeps plain state-dict keys."""
        from torch.nn.parallel import DistributedDataParallel

        if self.device.type == "cuda":
            # Converts the children in place and keeps the same Parameter objects.
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    # --- data ---------------------------------------------------------------------------

    def check_batches(self, train_size: int, batch_size: int) -> None:
        """Every global batch must give every rank at least one image."""
        last = train_size % batch_size or batch_size
        if min(batch_size, last) < self.world_size:
            raise ConfigError(
                f"--batch-size {batch_size} over {train_size} training images leaves a batch of "
                f"{min(batch_size, last)}, fewer than the {self.world_size} processes: "
                "choose another --batch-size or --val-size."
            )

    def batches(
        self, split: Split, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
        """This rank's slice of every global batch, and its share of the batch (n_r N / B).

        The permutation is drawn exactly as data.tensors.batches draws it, so one process
        and N processes walk the same global batches.
        """
        n = len(split)
        order = torch.randperm(n, generator=generator).to(split.labels.device)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            mine = index.tensor_split(self.world_size)[self.rank]
            yield split.images[mine], split.labels[mine], len(mine) * self.world_size / len(index)

    def shard(self, split: Split) -> Split:
        """This rank's contiguous part of an evaluation split (views, no copies)."""
        bounds = torch.arange(len(split)).tensor_split(self.world_size)[self.rank]
        start = int(bounds[0]) if len(bounds) else 0
        stop = start + len(bounds)
        return Split(split.images[start:stop], split.labels[start:stop])

    # --- collectives ----------------------------------------------------------------------

    def sum(self, *values: float | torch.Tensor) -> list[float]:
        """The sums over ranks of a few numbers (float64: counts stay exact)."""
        totals = torch.stack(
            [torch.as_tensor(v, dtype=torch.float64).to(self.device).reshape(()) for v in values]
        )
        dist.all_reduce(totals)
        return totals.tolist()

    def agreed(self, flag: Callable[[], bool]) -> AgreedStop:
        return AgreedStop(flag, self.device)

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Rank 0's BatchNorm running averages everywhere (they differ on the CPU)."""
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)

    def evaluate(self, model: nn.Module, split: Split, precision: str) -> EvalResult:
        """loop.evaluate over N shards, reduced: the same numbers as one process."""
        self.broadcast_buffers(model)
        part = self.shard(split)
        local = evaluate(model, part, precision=precision) if len(part) else None
        loss_sum, correct, samples = self.sum(
            local.loss * local.samples if local else 0.0,
            round(local.accuracy * local.samples) if local else 0,
            len(part),
        )
        return EvalResult(loss=loss_sum / samples, accuracy=correct / samples, samples=int(samples))

    def share(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank (pickled: small things, and last.pt)."""
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        boxes: list[Any] = [None] * self.world_size
        dist.all_gather_object(boxes, obj)
        return boxes

    def resume_state(self, state: dict[str, Any] | None) -> dict[str, Any] | None:
        """Rank 0's last.pt on every rank, each with its own random-generator states."""
        state = self.share(state)
        if state is None:
            return None
        ranks = state.get("rng_ranks")
        if not isinstance(ranks, list) or len(ranks) != self.world_size:
            raise RunError(
                f"last.pt was saved by {len(ranks) if isinstance(ranks, list) else 1} "
                f"process(es), not {self.world_size}: resume with as many processes as "
                "the run was started with."
            )
        return {**state, "rng": ranks[self.rank]}

    def store(self, store: CheckpointStore | None) -> CheckpointStore:
        return RankZeroStore(store, self)

    def first_to_fail(self) -> bool:
        """True for the first rank that fails: it says why, the others stay quiet."""
        try:
            # The rendezvous store is the agent's, so it outlives a dead rank.
            store = dist.distributed_c10d._get_default_store()
            store.set_timeout(timedelta(seconds=5))
            return store.add("mnist_tui/failed", 1) == 1
        except Exception:  # no store left to ask: saying it twice beats silence
            return True

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


class AgreedStop:
    """A stop flag made collective: True on every rank as soon as it is True on any.

    The loop asks after every step, so all ranks stop after the same step (a Ctrl-C
    reaches the ranks at slightly different moments).
    """

    def __init__(self, flag: Callable[[], bool], device: torch.device) -> None:
        self.flag = flag
        self.device = device
        self.stopped = False

    def __call__(self) -> bool:
        raised = torch.tensor([1 if self.flag() else 0], device=self.device)
        dist.all_reduce(raised, op=dist.ReduceOp.MAX)
        self.stopped = bool(raised.item())
        return self.stopped


class RunNote(Callback):
    """Rank 0 tells the launcher which run folder it trains, so its lines can name it."""

    def on_run_start(self, event: RunStarted) -> None:
        path = os.environ.get(RUN_NOTE_ENV)
        if path:
            with contextlib.suppress(OSError):
                Path(path).write_text(event.run_dir)


class RankZeroStore:
    """Rank 0 writes the checkpoints; last.pt carries every rank's generator states."""

    def __init__(self, store: CheckpointStore | None, cluster: Cluster) -> None:
        self.inner = store
        self.cluster = cluster

    def save_best(self, state_dict: dict[str, torch.Tensor], epoch: int, val_acc: float) -> None:
        if self.inner is not None:
            self.inner.save_best(state_dict, epoch, val_acc)

    def save_last(self, state: dict[str, Any]) -> None:
        ranks = self.cluster.gather(state["rng"])  # every rank calls save_last at once
        if self.inner is not None:
            self.inner.save_last({**state, "rng_ranks": ranks})


def setup(device_spec: str) -> Cluster:
    """Join the process group torchrun's agent prepared: gloo on CPU, NCCL on CUDA."""
    env = os.environ
    rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
    local_rank = int(env.get("LOCAL_RANK", 0))
    local_world = int(env.get("LOCAL_WORLD_SIZE", world))
    nodes = int(env.get("GROUP_WORLD_SIZE", max(1, world // max(1, local_world))))
    device = resolve_device(device_spec)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"Local rank {local_rank} needs a GPU of its own, but this machine has "
                f"{torch.cuda.device_count()}: start fewer processes per node."
            )
        device = torch.device("cuda", local_rank)  # one GPU per process
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ConfigError(f"--device {device_spec}: data-parallel training runs on cpu or cuda.")
    timeout = timedelta(seconds=float(env.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    dist.init_process_group(backend, timeout=timeout)
    return Cluster(rank, world, local_rank, nodes, backend, device)


def is_peer_loss(error: BaseException) -> bool:
    """A collective failed because another rank went away (or stopped answering)."""
    if isinstance(error, dist.DistError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        mark in text for mark in ("Connection closed by peer", "Connection reset", "gloo", "NCCL")
    )


# --- the launcher (the parent process of `mnist train --nproc N`) ------------------------


def launch(
    nproc: int,
    worker_args: list[str],
    *,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    rdzv_timeout: int = 600,
) -> int:
    """Start the workers through torch.distributed's elastic agent; their exit code.

    One node without an endpoint rendezvous on a free local port (torchrun --standalone).
    A dead rank, a port in use or an unreachable rendezvous become one DistributedError.
    """
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # The agent logs its configuration and every shutdown as warnings: the run's own
    # output and one line on failure are what a user needs.
    for name in ["torch.distributed", *logging.root.manager.loggerDict]:
        if name.startswith("torch.distributed"):  # torch gives its loggers their own levels
            logging.getLogger(name).setLevel(logging.CRITICAL)
    standalone = rdzv_endpoint is None
    endpoint = "localhost:0" if standalone else rdzv_endpoint
    rdzv_configs: dict[str, Any] = {
        "join_timeout": rdzv_timeout,
        "read_timeout": max(1, min(60, rdzv_timeout)),
    }
    if nnodes == 1 and not standalone:
        # Host the store here or fail at once: otherwise a busy port makes the agent join
        # whatever listens there and wait for a timeout. With more machines, torch's own
        # rule decides (so two "machines" on one host can also rehearse a job).
        rdzv_configs["is_host"] = True
    config = LaunchConfig(
        min_nodes=nnodes,
        max_nodes=nnodes,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()) if standalone else "mnist",
        rdzv_backend="c10d",
        rdzv_endpoint=endpoint,
        rdzv_configs=rdzv_configs,
        max_restarts=0,
        monitor_interval=0.2,
        # Workers stopped by Ctrl-C finish their step and save before they exit.
        shutdown_timeout=60,
    )
    os.environ[LAUNCHER_ENV] = "1"
    if "OMP_NUM_THREADS" not in os.environ:
        # N processes share the cores; torchrun sets 1, a fair share is faster.
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    with tempfile.TemporaryDirectory(prefix="mnist-launch-") as scratch:
        note = Path(scratch) / "run"
        os.environ[RUN_NOTE_ENV] = str(note)
        try:
            elastic_launch(config, sys.executable)("-m", "mnist_tui", "train", *worker_args)
        except ChildFailedError as e:
            return _child_failure(e, note.read_text() if note.is_file() else None)
        except SignalException as e:
            return 128 + int(e.sigval)
        except Exception as e:  # rendezvous failures come in many types
            message = _rendezvous_message(e, endpoint, rdzv_timeout, nnodes)
            raise DistributedError(message) from None
    return 0


def _child_failure(error: Any, run_dir: str | None) -> int:
    """Name the rank that died; ranks that exited with a code have said why themselves."""
    failures = error.failures  # global rank -> ProcessFailure
    killed = {r: f for r, f in failures.items() if f.exitcode < 0}
    if killed:
        resume = resume_command(RunFolder(Path(run_dir))) if run_dir else None
        # SIGTERM is the agent's own teardown of the survivors (one still exiting dies of
        # it): the culprit is a rank killed by anything else, when there is one.
        culprits = [r for r, f in killed.items() if f.exitcode != -signal.SIGTERM] or killed
        rank = min(culprits)
        failure = killed[rank]
        others = len(failures) - 1
        raise DistributedError(
            f"Rank {rank} (pid {failure.pid}) was killed by {failure.signal_name()}: "
            f"the job stopped{f' ({others} other rank(s) stopped with it)' if others else ''}. "
            + (
                f"Resume it from its last saved epoch with: {resume}"
                if resume
                else "No run folder was made yet."
            )
        )
    spoke = [f.exitcode for _, f in sorted(failures.items()) if f.exitcode != PEER_LOST_EXIT]
    return spoke[0] if spoke else PEER_LOST_EXIT


def _rendezvous_message(error: BaseException, endpoint: str, timeout: int, nnodes: int) -> str:
    chain = []
    current: BaseException | None = error
    while current is not None and len(chain) < 5:
        chain.append(f"{type(current).__name__} {current}")
        current = current.__cause__ or current.__context__
    text = " ".join(chain)
    if "RendezvousTimeoutError" in text:
        return (
            f"Not all {nnodes} machines joined the rendezvous at {endpoint} within {timeout} s: "
            "run the same command on every machine, or give them longer with --rdzv-timeout."
        )
    if "EADDRINUSE" in text or "address already in use" in text.lower():
        return (
            f"The rendezvous port {endpoint} is already in use on this machine: pick another "
            "port in --rdzv-endpoint (the same on every node)."
        )
    if "timed out" in text.lower() or "timeout" in text.lower() or "connect" in text.lower():
        return (
            f"Could not reach the rendezvous at {endpoint} within {timeout} s: start the job "
            "on the host named there first, and check the address, port and firewall."
        )
    return f"The data-parallel job could not start at {endpoint}: {brief(error, 160)}."
