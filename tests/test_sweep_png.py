"""issue 21: sweep.png at the end of a sweep and from `mnist sweep show NAME --png FILE`."""

from __future__ import annotations

import pytest
from conftest import run_cli
from PIL import Image
from test_sweep import FIXED

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_sweep_png_is_written_at_the_end_and_by_show(synthetic_root, runs_dir, tmp_path, capsys):
    common = ["--root", synthetic_root, "--runs-dir", runs_dir]
    code, out, err = run_cli(
        [
            *["sweep", "--name", "p", "--param", "lr=0.05,0.1", "--sampler", "grid"],
            *["--epochs", "1", *FIXED[:4], *FIXED[6:], *common],
        ],
        capsys,
    )
    assert code == 0, err
    default = runs_dir / ".sweeps" / "p" / "sweep.png"
    assert f"Plot: {default}" in out
    assert default.read_bytes().startswith(PNG_MAGIC)
    # The history panel and one panel for the one searched parameter, 450 x 400 px each.
    assert Image.open(default).size == (900, 400)
    assert not list(default.parent.glob(".*.tmp"))  # written atomically, nothing left over

    target = tmp_path / "out.png"
    code, out, err = run_cli(
        ["sweep", "show", "p", "--png", target, "--runs-dir", runs_dir], capsys
    )
    assert code == 0, err
    assert f"wrote {target}" in out and "2/2 trials: 2 complete" in out
    assert Image.open(target).size == (900, 400)

    code, out, err = run_cli(
        ["sweep", "show", "p", "--png", tmp_path / "no" / "such" / "x.png", "--runs-dir", runs_dir],
        capsys,
    )
    assert code == 0, err  # the folder is made, as for the default place


def test_sweep_png_panels_and_an_unwritable_place(tmp_path):
    """From plain records: one panel per parameter (log, choices); a failed write is an error."""
    from mnist_tui.errors import MnistError
    from mnist_tui.sweep.png import draw_sweep
    from mnist_tui.sweep.space import parse_param

    blocker = tmp_path / "file"
    blocker.write_text("x")
    records = [
        {"number": 0, "state": "complete", "params": {"lr": 0.1}, "best_val_acc": 0.9},
        {"number": 1, "state": "pruned", "params": {"lr": 0.01}, "best_val_acc": 0.2},
        {"number": 2, "state": "complete", "params": {"lr": 0.03}, "best_val_acc": 0.95},
    ]
    space = [parse_param("lr=1e-3..1e-1:log"), parse_param("optimizer=sgd,adam")]
    for r in records:
        r["params"]["optimizer"] = "sgd"
    with pytest.raises(MnistError, match="Cannot write"):
        draw_sweep(records, space, blocker / "sweep.png", "t")
    path = draw_sweep(records, space, tmp_path / "s.png", "t")
    assert Image.open(path).size == (1350, 400)
