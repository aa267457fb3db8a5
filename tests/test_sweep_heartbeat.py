"""issue 21: the heartbeat that finds lost workers, shortened through the environment."""

from __future__ import annotations

import pytest

from mnist_tui.errors import ConfigError
from mnist_tui.sweep.storage import GRACE_S, HEARTBEAT_S, heartbeat, open_storage


def test_heartbeat_defaults_and_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_SWEEP_HEARTBEAT", raising=False)
    assert heartbeat() == (HEARTBEAT_S, GRACE_S) == (10, 40)
    monkeypatch.setenv("MNIST_SWEEP_HEARTBEAT", "2")
    assert heartbeat() == (2, 8)
    storage = open_storage(f"sqlite:///{tmp_path / 'sweeps.db'}")
    assert (storage.get_heartbeat_interval(), storage.grace_period) == (2, 8)
    for bad in ("0", "fast", "-3"):
        monkeypatch.setenv("MNIST_SWEEP_HEARTBEAT", bad)
        with pytest.raises(ConfigError, match="MNIST_SWEEP_HEARTBEAT"):
            heartbeat()
