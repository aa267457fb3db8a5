"""`make bench` end to end on the synthetic dataset: it runs and prints its table.

Figures are not asserted (timing never is); that each row is there and well-formed is.
"""

import re
import subprocess
import sys

import pytest
from conftest import REPO, cli_env


@pytest.mark.slow
def test_quick_bench_prints_the_training_table(synthetic_root, tmp_path):
    out = tmp_path / "bench.md"
    args = ["--quick", "--device", "cpu", "--root", str(synthetic_root), "--val-size", "500"]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", *args, "--skip", "levers", "--out", str(out)],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    table = out.read_text()
    assert table.strip() in result.stdout
    for figure in (
        r"baseline \(notebook loop\): seconds per epoch \| [\d.]+ m?s \| 1 \|",
        r"`mnist train` defaults: test accuracy after 1 epoch \| [\d.]+% \| 1 \|",
        r"speed-up, baseline/tool seconds per epoch \| [\d.]+x \|",
        r"speed-up, median of the paired \(back-to-back\) epoch ratios \| [\d.]+x \| 1 \|",
        r"peak resident memory \| \d+ MiB \| 1 \|",
        r"time to 99.0% test accuracy, `--preset fast`",
        r"evaluation pass alone .* \| [\d,]+ img/s \| 1 \|",
        r"`mnist predict digit.png` wall time \(one image\) \| [\d.]+ m?s \| 3 \|",
        r"`mnist predict` minus a back-to-back `import torch` \| -?[\d.]+ m?s \| 3 \|",
        r"`mnist eval` end to end: test images per wall second \| [\d,]+ img/s \| 1 \|",
        r"`mnist --help` wall time \| [\d.]+ m?s \| 3 \|",
    ):
        assert re.search(figure, table), figure
    assert "lever:" not in table  # --skip is honoured


@pytest.mark.slow
def test_bench_refuses_cuda_where_there_is_none(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--device", "cuda", "--root", str(tmp_path)],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "no CUDA device" in result.stderr and "Traceback" not in result.stderr
