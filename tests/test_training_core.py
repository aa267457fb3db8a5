"""Models, data batching, loss averaging and the seeded split."""

import torch
from torch import nn

from mnist_tui.data.tensors import Split, batches, normalise, split_indices
from mnist_tui.models.architectures import build_model, count_parameters
from mnist_tui.train.loop import evaluate


def test_simple_cnn_shapes_and_parameters():
    model = build_model("simple_cnn")
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert count_parameters(model) == 206_922


def test_seeded_split_is_stable_and_disjoint():
    train_a, val_a = split_indices(1000, 100, seed=3)
    train_b, val_b = split_indices(1000, 100, seed=3)
    _, val_c = split_indices(1000, 100, seed=4)
    assert torch.equal(val_a, val_b) and torch.equal(train_a, train_b)
    assert not torch.equal(val_a, val_c)
    assert len(set(train_a.tolist()) | set(val_a.tolist())) == 1000
    assert len(val_a) == 100


def test_batches_cover_every_sample_once_with_a_short_last_batch():
    split = Split(torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10))
    generator = torch.Generator().manual_seed(0)
    sizes, seen = [], []
    for images, labels in batches(split, 4, generator):
        sizes.append(len(labels))
        seen += labels.tolist()
        assert torch.equal(images.view(-1).long(), labels)  # images stay with labels
    assert sizes == [4, 4, 2]
    assert sorted(seen) == list(range(10)) and seen != list(range(10))


def test_normalise_uses_mean_and_std():
    images = torch.tensor([[[0, 255]]], dtype=torch.uint8)
    out = normalise(images, 0.5, 0.25)
    assert out.shape == (1, 1, 1, 2)
    assert torch.allclose(out.view(-1), torch.tensor([-2.0, 2.0]))


class _Fixed(nn.Module):
    """Returns fixed logits per sample index (encoded in the input's first pixel)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[x[:, 0, 0, 0].long()]


def test_loss_is_averaged_per_sample_with_a_smaller_last_batch():
    torch.manual_seed(0)
    n = 7
    logits = torch.randn(n, 10)
    labels = torch.randint(0, 10, (n,))
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
    # Batches of 3, 3, 1: a mean of batch means would over-weight the last sample.
    result = evaluate(_Fixed(logits), Split(images, labels), batch_size=3)
    by_hand = sum(-torch.log_softmax(logits[i], 0)[labels[i]].item() for i in range(n)) / n
    batch_means = [
        nn.functional.cross_entropy(logits[s : s + 3], labels[s : s + 3]).item() for s in (0, 3, 6)
    ]
    assert abs(result.loss - by_hand) < 1e-6
    assert abs(result.loss - sum(batch_means) / 3) > 1e-4  # the wrong way differs here
    assert result.accuracy == (logits.argmax(1) == labels).sum().item() / n
