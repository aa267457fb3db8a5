"""Bounded memory for any image (issue 24, item 1): tiny files of extreme shapes.

A 229-byte 150000x1 PNG once made `mnist predict` allocate 24 GB (np.pad in the crop),
a 40,000,000x1 PNG asked for 1.36 PiB and took the other images of the command down
with it. Each case runs in a child process under an address-space limit
(resource.setrlimit(RLIMIT_AS)) a little above what the child has mapped after its
imports, so a regression ends in a failed test, not in a machine out of memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, cli_env
from PIL import Image, ImageDraw

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc are Linux's")

#: Headroom above the child's mapped memory after its imports: a 40-megapixel RGBA photo
#: needs about 0.5 GiB to decode and reduce; the old pipeline needed gigabytes.
HEADROOM_MIB = 900

CHILD = """
import json, resource, sys

def mapped_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) // 1024

{imports}
limit = (mapped_mib() + {headroom}) << 20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
{body}
"""

PREPARE = """
from mnist_tui.errors import ImageError
from mnist_tui.imaging.prepare import prepare_digits
results = {}
for path in sys.argv[1:]:
    try:
        results[path] = len(prepare_digits(path).digits)
    except ImageError as e:
        results[path] = str(e)
print(json.dumps(results))
"""


def run_child(imports: str, body: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    code = CHILD.format(imports=imports, headroom=HEADROOM_MIB, body=body)
    env = cli_env(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="2")
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny files of extreme shapes, and a legitimate worst case (40 MP RGBA)."""
    folder = tmp_path_factory.mktemp("hostile")
    files = {}
    line = Image.new("L", (150_000, 1), 0)
    line.paste(255, (1000, 0, 149_000, 1))  # a white line on black
    files["150000x1"] = folder / "line-150000x1.png"
    line.save(files["150000x1"])
    files["40000000x1"] = folder / "line-40000000x1.png"
    Image.new("1", (40_000_000, 1), 1).save(files["40000000x1"])
    files["1x150000"] = folder / "line-1x150000.png"
    Image.new("L", (1, 150_000), 255).save(files["1x150000"])
    files["40000x1"] = folder / "line-40000x1.png"
    Image.new("L", (40_000, 1), 255).save(files["40000x1"])
    # Allowed shapes at the limits: 50:1 with marks all along, 40 MP with transparency.
    strip = Image.new("L", (40_000, 800), 255)
    draw = ImageDraw.Draw(strip)
    for x in range(0, 40_000, 700):
        draw.line([(x + 100, 100), (x + 300, 700)], fill=0, width=12)
    files["strip"] = folder / "strip-40000x800.png"
    strip.save(files["strip"])
    sheet = Image.new("RGBA", (6324, 6324), (255, 255, 255, 0))
    draw = ImageDraw.Draw(sheet)
    draw.line([(2500, 2000), (3000, 4500)], fill=(0, 0, 0, 255), width=90)
    files["rgba40mp"] = folder / "sheet-6324x6324.png"
    sheet.save(files["rgba40mp"])
    return files


@pytest.mark.slow
def test_extreme_shapes_are_refused_in_one_line_within_bounded_memory(hostile) -> None:
    paths = [str(p) for p in hostile.values()]
    result = run_child("import mnist_tui.imaging.prepare", PREPARE, paths)
    assert result.returncode == 0, result.stderr[-2000:]
    answers = json.loads(result.stdout)
    for key in ("150000x1", "40000000x1", "1x150000", "40000x1"):
        message = answers[str(hostile[key])]
        assert isinstance(message, str) and "Crop it" in message and "\n" not in message
    # The strip of many marks is refused as a page of text, the sheet read as one digit.
    assert "separate marks" in answers[str(hostile["strip"])]
    assert answers[str(hostile["rgba40mp"])] == 1


@pytest.mark.slow
def test_predict_keeps_going_past_an_extreme_shape(hostile, trained_run, tmp_path) -> None:
    """The other images of the same command are still predicted; one line for the bad."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for key in ("150000x1", "40000000x1"):
        (folder / hostile[key].name).write_bytes(hostile[key].read_bytes())
    digit = np.full((112, 112), 255, np.uint8)
    digit[20:92, 50:62] = 0  # a "1" in dark ink
    Image.fromarray(digit).save(folder / "one.png")
    body = (
        "from mnist_tui.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    sys.exit(e.code)\n"
    )
    args = ["predict", str(folder), "--run", str(trained_run), "--json"]
    result = run_child("import torch, mnist_tui.cli, mnist_tui.predict.core", body, args)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and all("Crop it" in line for line in lines)
    records = json.loads(result.stdout)
    assert [Path(r["path"]).name for r in records] == ["one.png"]
