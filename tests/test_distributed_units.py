"""The parts of train/distributed.py that need no process group: slices, shards, blame."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import pytest
import torch

from mnist_tui.data.tensors import Split, batches
from mnist_tui.errors import ConfigError
from mnist_tui.train.distributed import (
    PEER_LOST_EXIT,
    Cluster,
    DistributedError,
    _child_failure,
)


def cluster(rank: int, world: int) -> Cluster:
    return Cluster(rank, world, rank, 1, "gloo", torch.device("cpu"))


def numbered(n: int) -> Split:
    """Images whose single pixel is their index: batches can be read back as indices."""
    return Split(torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1), torch.arange(n))


@pytest.mark.parametrize(("n", "batch", "world"), [(201, 128, 2), (100, 10, 3), (7, 7, 7)])
def test_ranks_slice_the_batches_one_process_would_take(n: int, batch: int, world: int) -> None:
    split = numbered(n)
    single = [labels for _, labels in batches(split, batch, torch.Generator().manual_seed(5))]
    ranks = [
        list(cluster(r, world).batches(split, batch, torch.Generator().manual_seed(5)))
        for r in range(world)
    ]
    assert all(len(steps) == len(single) for steps in ranks)
    for step, labels in enumerate(single):
        parts = [ranks[r][step] for r in range(world)]
        # In rank order, the slices are the global batch itself: same images, same order.
        assert torch.equal(torch.cat([labels for _, labels, _ in parts]), labels)
        assert all(torch.equal(images.view(-1).long(), lab) for images, lab, _ in parts)
        # The shares weight each rank's mean loss: their mean is 1, so DDP's average over
        # ranks of share * mean loss is the global batch's mean loss.
        shares = [share for _, _, share in parts]
        assert sum(shares) / world == pytest.approx(1.0)
        assert shares == pytest.approx([len(lab) * world / len(labels) for _, lab, _ in parts])


def test_evaluation_shards_cover_a_split_once() -> None:
    split = numbered(503)
    parts = [cluster(r, 4).shard(split).labels for r in range(4)]
    assert torch.equal(torch.cat(parts), split.labels)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_a_batch_smaller_than_the_world_is_refused() -> None:
    cluster(0, 4).check_batches(train_size=132, batch_size=64)  # 64, 64, 4: one each
    with pytest.raises(ConfigError, match="leaves a batch of 1, fewer than the 2 processes"):
        cluster(0, 2).check_batches(train_size=129, batch_size=64)
    with pytest.raises(ConfigError, match="batch of 1, fewer than the 4"):
        cluster(0, 4).check_batches(train_size=100, batch_size=3)


def failure(pid: int, exitcode: int) -> SimpleNamespace:
    def signal_name() -> str:
        return signal.Signals(-exitcode).name

    return SimpleNamespace(pid=pid, exitcode=exitcode, signal_name=signal_name)


def test_the_killed_rank_is_named_not_the_survivor_the_agent_stopped() -> None:
    error = SimpleNamespace(
        failures={0: failure(100, -signal.SIGTERM), 1: failure(101, -signal.SIGKILL)}
    )
    with pytest.raises(DistributedError) as caught:
        _child_failure(error, "runs/20260101-000000-x")
    message = str(caught.value)
    assert message.startswith("Rank 1 (pid 101) was killed by SIGKILL: the job stopped")
    assert "mnist train --resume" in message and "20260101-000000-x" in message


def test_a_rank_that_said_why_is_not_reported_again() -> None:
    # Rank 0 refused (exit 2, its own line); rank 1 only lost contact with it.
    error = SimpleNamespace(failures={0: failure(100, 2), 1: failure(101, PEER_LOST_EXIT)})
    assert _child_failure(error, None) == 2
