"""Hostile and broken input: checkpoints, images, dataset files, configs, run folders.

Each case goes through the real `mnist` entry point and must give one line on stderr
(what is wrong, what to do), a non-zero exit code, no traceback, and leave what was
already written untouched.
"""

from __future__ import annotations

import os
import pickle
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image

from mnist_tui.data.files import encode_idx, raw_dir
from mnist_tui.data.specs import DATASETS
from mnist_tui.errors import CheckpointError
from mnist_tui.models import checkpoints


def _one_error_line(code: int, err: str, needle: str) -> str:
    assert code != 0, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist: error: ") and needle in lines[0], err
    return lines[0]


def _copy_run(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / run.name
    shutil.copytree(run, copy)
    return copy


# --- checkpoints -------------------------------------------------------------------------


class _RunsACommand:
    """Unpickling this calls os.system: what a malicious checkpoint looks like."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_files(folder: Path, marker: Path) -> dict[str, Path]:
    payload = {"format": checkpoints.FORMAT, "model": "simple_cnn", "x": _RunsACommand(marker)}
    zip_file, legacy, raw = folder / "zip.pt", folder / "legacy.pt", folder / "raw.pkl"
    torch.save(payload, zip_file)
    torch.save(payload, legacy, _use_new_zipfile_serialization=False)
    raw.write_bytes(pickle.dumps(payload))
    return {"zip": zip_file, "legacy": legacy, "raw pickle": raw}


@pytest.mark.parametrize("kind", ["zip", "legacy", "raw pickle"])
def test_a_checkpoint_that_runs_a_command_is_refused_and_the_command_never_runs(
    trained_run, tmp_path, capsys, kind
):
    marker = tmp_path / "pwned"
    # The payload is real: plain pickle.load would run it (checked on a copy, then reset).
    probe = _evil_files(tmp_path, tmp_path / "probe")["raw pickle"]
    pickle.loads(probe.read_bytes())
    assert (tmp_path / "probe").exists()

    evil = _evil_files(tmp_path, marker)[kind]
    run = _copy_run(trained_run, tmp_path)
    shutil.copy(evil, run / "checkpoint.pt")
    # Protocol-2 pickles (torch's) are refused by name; a protocol-4 pickle already fails
    # on an opcode the safe reader does not accept, before it gets to the call.
    needle = "is not a readable checkpoint" if kind == "raw pickle" else "GLOBAL posix.system"
    # A real digit: predict reads its images before any checkpoint (issue 20).
    image = _digit_png(tmp_path / "any.png")
    code, _, err = run_cli(["predict", image, "--run", run], capsys)
    _one_error_line(code, err, needle)
    if kind != "raw pickle":
        assert "was refused: loading it would run code" in err
    shutil.copy(evil, run / "last.pt")
    (run / "summary.toml").write_text('status = "interrupted"\n')
    code, _, err = run_cli(["train", "--resume", run, "--plain"], capsys)
    _one_error_line(code, err, needle)
    assert not marker.exists(), "the command in the checkpoint ran"


def _real_checkpoint(trained_run: Path) -> dict:
    """checkpoint.pt's contents, without the checksum: for hand-made variants of it."""
    loaded = torch.load(trained_run / "checkpoint.pt", map_location="cpu", weights_only=True)
    loaded.pop(checkpoints.CHECKSUM, None)
    return loaded


CHECKPOINT_CASES = {
    "truncated": (lambda run, p: p.write_bytes((run / "checkpoint.pt").read_bytes()[:5000])),
    "text named .pt": (lambda run, p: p.write_text("these are not the weights you seek\n")),
    "empty": (lambda run, p: p.write_bytes(b"")),
    "random bytes": (lambda run, p: p.write_bytes(np.random.default_rng(0).bytes(4096))),
    "a folder": (lambda run, p: p.mkdir()),
    "plain tensor file": (lambda run, p: torch.save({"w": torch.zeros(3)}, p)),
    "training state, not weights": (lambda run, p: shutil.copy(run / "last.pt", p)),
    "another architecture": (
        lambda run, p: torch.save(
            {
                **_real_checkpoint(run),
                "state_dict": {"fc.weight": torch.zeros(10, 784), "fc.bias": torch.zeros(10)},
            },
            p,
        )
    ),
    "unknown model": (lambda run, p: torch.save({**_real_checkpoint(run), "model": "vit_h"}, p)),
    "missing fields": (
        lambda run, p: torch.save({"format": checkpoints.FORMAT, "model": "simple_cnn"}, p)
    ),
}
CHECKPOINT_NEEDLES = {
    "truncated": "is not a readable checkpoint",
    "text named .pt": "is not a readable checkpoint",
    "empty": "is not a readable checkpoint",
    "random bytes": "is not a readable checkpoint",
    "a folder": "is a folder, not a checkpoint file",
    "plain tensor file": "is not an mnist checkpoint",
    "training state, not weights": "is not an mnist checkpoint",
    "another architecture": "does not fit the simple_cnn architecture (Missing key(s)",
    "unknown model": "unknown model 'vit_h'",
    "missing fields": "is damaged: classes, mean, std, dataset, state_dict missing",
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_broken_checkpoints_are_one_clear_line(trained_run, tmp_path, capsys, case):
    run = _copy_run(trained_run, tmp_path)
    (run / "checkpoint.pt").unlink()
    CHECKPOINT_CASES[case](trained_run, run / "checkpoint.pt")
    # A real digit: predict reads its images before any checkpoint (issue 20).
    image = _digit_png(tmp_path / "digit.png")
    for command in (["predict", image, "--run", run], ["eval", run]):
        code, _, err = run_cli(command, capsys)
        line = _one_error_line(code, err, CHECKPOINT_NEEDLES[case])
        assert "checkpoint.pt" in line
    with pytest.raises(CheckpointError):
        checkpoints.model_from_checkpoint(checkpoints.load(run / "checkpoint.pt"))


def test_a_gpu_saved_checkpoint_layout_loads_on_the_cpu(trained_run):
    """map_location: tensors are restored onto the CPU whatever device saved them."""
    loaded = checkpoints.load(trained_run / "checkpoint.pt")
    assert all(t.device.type == "cpu" for t in loaded["state_dict"].values())


# --- images ------------------------------------------------------------------------------


def _png_bomb(path: Path, side: int = 20000) -> None:
    """A valid PNG whose header claims side x side 1-bit pixels, in a few kilobytes."""
    row = b"\x00" + bytes(side // 8)
    data = zlib.compress(row * side, 9)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def _digit_png(path: Path, digit: str = "7") -> Path:
    from PIL import ImageDraw, ImageFont

    image = Image.new("L", (120, 120), 255)
    ImageDraw.Draw(image).text(
        (60, 60), digit, fill=0, font=ImageFont.load_default(size=90), anchor="mm"
    )
    image.save(path)
    return path


def hostile_images(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, what its stderr line must contain)."""
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    text = folder / "notes.png"
    text.write_text("this is text with a .png name\n")
    truncated = folder / "truncated.png"
    _digit_png(truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    tiny = folder / "one-pixel.png"
    Image.new("L", (1, 1), 0).save(tiny)
    white = folder / "all-white.png"
    Image.new("RGB", (200, 200), (255, 255, 255)).save(white)
    bomb = folder / "bomb.png"
    _png_bomb(bomb)
    directory = folder / "a-folder.png"
    directory.mkdir()
    svg = folder / "vector.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>')
    return {
        "empty file": (empty, "is empty (0 bytes)"),
        "text with a .png name": (text, "is not an image Pillow can read"),
        "truncated PNG": (truncated, "is damaged or truncated"),
        "1x1 pixel": (tiny, "no digit found"),
        "all white": (white, "no digit found"),
        "20000x20000 decompression bomb": (bomb, "is too large"),
        # predict reads a folder's images; an image-less one is the error here
        "a directory": (directory, "no image files in this folder"),
        "a missing path": (folder / "missing.png", "no such file"),
        "an unsupported format (SVG)": (svg, "is not an image Pillow can read"),
    }


def test_hostile_images_in_a_batch_each_get_one_line_and_the_rest_are_predicted(
    trained_run, tmp_path, capsys
):
    import json

    cases = hostile_images(tmp_path / "images")
    good = [_digit_png(tmp_path / "good-1.png", "1"), _digit_png(tmp_path / "good-3.png", "3")]
    arguments = [good[0], *(path for path, _ in cases.values()), good[1]]
    code, out, err = run_cli(["predict", *arguments, "--run", trained_run, "--json"], capsys)
    assert code == 1  # some failed
    assert [r["path"] for r in json.loads(out)] == [str(p) for p in good]
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == len(cases)
    for path, needle in cases.values():
        (line,) = [line for line in lines if line.startswith(f"mnist: error: {path}")]
        assert needle in line, (path, line)


# --- dataset files -----------------------------------------------------------------------


@pytest.fixture
def data_copy(synthetic_root, tmp_path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(synthetic_root, root)
    return root


TRAIN_1 = ["train", "--epochs", "1", "--device", "cpu", "--plain", "--val-size", "500"]


def _train(root: Path, tmp_path: Path, capsys) -> tuple[int, str, str]:
    return run_cli(
        [*TRAIN_1, "--root", root, "--runs-dir", tmp_path / "runs"],
        capsys,
    )


def _images_file(root: Path) -> Path:
    return raw_dir(root, DATASETS["mnist"]) / "train-images-idx3-ubyte"


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda f: f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2]), "corrupt or partial"),
        (
            lambda f: f.write_bytes(f.read_bytes()[:-1] + bytes([f.read_bytes()[-1] ^ 1])),
            "corrupt or partial",
        ),
        (lambda f: f.unlink(), "is not downloaded"),
        (lambda f: f.write_bytes(b""), "corrupt or partial"),
    ],
    ids=["partial", "one-bit-flipped", "missing", "empty"],
)
def test_corrupt_or_partial_idx_is_caught_by_checksum(data_copy, tmp_path, capsys, damage, needle):
    damage(_images_file(data_copy))
    code, _, err = _train(data_copy, tmp_path, capsys)
    line = _one_error_line(code, err, needle)
    assert "mnist download --dataset mnist" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_garbage_manifest_falls_back_to_the_published_checksums(data_copy, tmp_path, capsys):
    (raw_dir(data_copy, DATASETS["mnist"]) / "MD5SUMS").write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = _train(data_copy, tmp_path, capsys)
    # The synthetic files are not MNIST's: without their manifest they fail the checksum.
    _one_error_line(code, err, "corrupt or partial")


def test_labels_out_of_range_pass_no_checksum_but_are_refused(data_copy, tmp_path, capsys):
    from mnist_tui.data.files import install_files

    folder = raw_dir(data_copy, DATASETS["mnist"])
    contents = {
        key: (folder / name).read_bytes() for key, name in DATASETS["mnist"].filenames.items()
    }
    labels = np.frombuffer(contents["train-labels"], np.uint8, offset=8).copy()
    labels[0] = 42
    contents["train-labels"] = encode_idx(labels)
    install_files(data_copy, DATASETS["mnist"], contents)  # a matching manifest
    code, _, err = _train(data_copy, tmp_path, capsys)
    _one_error_line(code, err, "train labels go up to 42 but mnist has 10 classes")


def _idx(dtype_code: int, shape: tuple[int, ...], body: bytes) -> bytes:
    return (
        bytes([0, 0, dtype_code, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape) + body
    )


IDX_DAMAGE = {
    # 65536**4 wraps to 0 in numpy's int64 product: a header-only file "held" it.
    "65536^4 dimensions": ("train-images", _idx(0x08, (65536,) * 4, b""), "should hold"),
    "a label of -1 (int8)": (
        "train-labels",
        None,  # filled in from the real labels below
        "train labels are int8 values, not bytes (uint8)",
    ),
    "big-endian float labels": (
        "test-labels",
        None,
        "test labels are >f4 values, not bytes (uint8)",
    ),
    "29x29 images": ("test-images", None, "not N x 28 x 28 images"),
}


@pytest.mark.parametrize("case", list(IDX_DAMAGE))
def test_idx_files_a_manifest_vouches_for_are_still_checked(data_copy, tmp_path, capsys, case):
    from mnist_tui.data.files import install_files, parse_idx

    folder = raw_dir(data_copy, DATASETS["mnist"])
    contents = {
        key: (folder / name).read_bytes() for key, name in DATASETS["mnist"].filenames.items()
    }
    key, data, needle = IDX_DAMAGE[case]
    if data is None:
        array = parse_idx(contents[key])
        if case.startswith("a label"):
            body = array.astype(np.int8)
            body[0] = -1
            data = _idx(0x09, body.shape, body.tobytes())
        elif case.startswith("big-endian"):
            data = _idx(0x0D, array.shape, array.astype(">f4").tobytes())
        else:
            data = encode_idx(np.zeros((len(array), 29, 29), np.uint8))
    contents[key] = data
    install_files(data_copy, DATASETS["mnist"], contents)  # a matching manifest
    code, _, err = _train(data_copy, tmp_path, capsys)
    _one_error_line(code, err, needle)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# --- config files and options ------------------------------------------------------------

CONFIG_CASES = {
    "unknown key": ("lrr = 0.1\n", "Unknown setting 'lrr'", "Did you mean lr?"),
    "wrong type": ('epochs = "ten"\n', "--epochs must be int, got str 'ten'", "cfg.toml"),
    "broken TOML": ("epochs = = 3\n[train\n", "is not valid TOML", "cfg.toml"),
    "[train] not a table": ("train = 5\n", "[train] must be a table", "cfg.toml"),
    "out of range in a file": ("[train]\nlr = -1.0\n", "--lr must be greater than 0.0", "cfg.toml"),
    "binary garbage": (b"\x00\xff\xfe\x80", "cannot be read", "cfg.toml"),
    "list for a number": ("batch_size = [1, 2]\n", "--batch-size must be int", "cfg.toml"),
    "unknown preset": ('preset = "turbo"\n', "--preset 'turbo' is not one of", ""),
    "NaN in a file": ("[train]\nlr = nan\n", "--lr must be a finite number, got nan", "cfg.toml"),
    "inf in a file": ("augment_elastic = inf\n", "--augment-elastic must be a finite", "cfg.toml"),
    "keys outside [train]": (
        "epochs = 1\n[train]\nlr = 0.1\n",
        "outside [train] (epochs) would be ignored",
        "",
    ),
    "huge seed in a file": ("seed = 99999999999999\n", "--seed must be at most", "cfg.toml"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_files(synthetic_root, tmp_path, capsys, case):
    content, needle, also = CONFIG_CASES[case]
    config = tmp_path / "cfg.toml"
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content)
    code, _, err = run_cli(
        ["train", "--config", config, "--root", synthetic_root, "--runs-dir", tmp_path / "r"],
        capsys,
    )
    line = _one_error_line(code, err, needle)
    assert also in line
    assert not (tmp_path / "r").exists()


def test_config_that_is_a_folder(synthetic_root, tmp_path, capsys):
    code, _, err = run_cli(["train", "--config", tmp_path, "--root", synthetic_root], capsys)
    _one_error_line(code, err, "is a directory, not a TOML file")


OPTION_CASES = [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--momentum", "1.5"], "--momentum must be at most 1.0"),
    (["--label-smoothing", "1"], "--label-smoothing must be less than 1.0"),
    (["--seed", "-1"], "--seed must be at least 0"),
    (["--val-size", "0"], "--val-size must be at least 1"),
    (["--patience", "-2"], "--patience must be at least 0"),
    (["--dataset", "kmnist"], "--dataset 'kmnist' is not one of"),
    (["--device", "tpu"], "--device 'tpu' is not valid"),
    (["--precision", "fp8"], "--precision 'fp8' is not one of"),
    (["--epochs", "many"], "Invalid value for '--epochs'"),
    (["--no-such-option"], "No such option"),
    # NaN slips past every range comparison and inf trains to NaN: both refused up front.
    (["--lr", "nan"], "--lr must be a finite number, got nan"),
    (["--lr", "inf"], "--lr must be a finite number, got inf"),
    (["--ema", "nan"], "--ema must be a finite number"),
    (["--label-smoothing", "nan"], "--label-smoothing must be a finite number"),
    (["--weight-decay", "inf"], "--weight-decay must be a finite number"),
    (["--lr", "1e300"], "--lr must be at most 100.0"),
    (["--seed", "99999999999999999999"], "--seed must be at most 4294967295"),
    (["--epochs", "99999999999"], "--epochs must be at most 100000"),
    # A Latin-1 terminal's "café" reaches Python as a surrogate escape.
    (["--name", "caf\udce9"], "--name 'caf\\udce9' must be printable UTF-8 text"),
    (["--name", "a\tb"], "--name 'a\\tb' must be printable UTF-8 text"),
]
if not torch.cuda.is_available():
    OPTION_CASES += [
        (["--device", "cuda"], "--device cuda: CUDA is not available on this machine"),
        (["--device", "cuda:7"], "--device cuda:7: CUDA is not available"),
        (["--precision", "fp16", "--device", "cpu"], "--precision fp16 needs a CUDA device"),
    ]


@pytest.mark.parametrize(
    ("extra", "needle"), OPTION_CASES, ids=[" ".join(c[0]) for c in OPTION_CASES]
)
def test_option_values_out_of_range(synthetic_root, tmp_path, capsys, extra, needle):
    code, _, err = run_cli(
        ["train", *extra, "--root", synthetic_root, "--runs-dir", tmp_path / "r"], capsys
    )
    _one_error_line(code, err, needle)
    assert not (tmp_path / "r").exists()


def test_a_diverging_run_stops_with_one_line_and_is_kept_as_failed(
    synthetic_root, tmp_path, capsys
):
    # lr x weight decay = 100 multiplies every weight by -99 a step: overflow, then NaN,
    # whatever the data and the hardware.
    runs = tmp_path / "r"
    args = ["--lr", "100", "--weight-decay", "1", "--scheduler", "none", "--epochs", "3"]
    code, _, err = run_cli(
        [
            "train",
            *args,
            "--val-size",
            "500",
            "--root",
            synthetic_root,
            "--runs-dir",
            runs,
            "--plain",
        ],
        capsys,
    )
    _one_error_line(code, err, "Training diverged in epoch 1: the loss became nan")
    assert "lower --lr" in err and "--weight-decay" in err
    (run,) = runs.iterdir()
    summary = (run / "summary.toml").read_text()
    assert 'status = "failed"' in summary and "diverged" in summary
    code, out, _ = run_cli(["runs", "--runs-dir", runs], capsys)
    assert code == 0 and "failed" in out


# --- run folders -------------------------------------------------------------------------


def test_damaged_run_folders_are_listed_not_fatal(trained_run, tmp_path, capsys):
    import json

    runs = tmp_path / "runs"
    good = _copy_run(trained_run, tmp_path)
    (runs / "20200101-000000-empty").mkdir()
    garbage = shutil.copytree(good, runs / "20200101-000001-garbage-summary")
    (garbage / "summary.toml").write_bytes(b"\x00\xff not toml")
    binary = shutil.copytree(good, runs / "20200101-000002-binary-config")
    (binary / "config.toml").write_bytes(os.urandom(64))
    code, out, err = run_cli(["runs", "--json", "--runs-dir", runs], capsys)
    assert code == 0 and err == ""
    status = {r["id"]: r["status"] for r in json.loads(out)}
    assert status == {
        good.name: "completed",
        "20200101-000000-empty": "damaged",
        "20200101-000001-garbage-summary": "damaged",
        "20200101-000002-binary-config": "damaged",
    }
    code, _, err = run_cli(["train", "--resume", garbage, "--plain"], capsys)
    _one_error_line(code, err, "summary.toml is damaged")
    code, _, err = run_cli(
        ["train", "--resume", "20200101-000000-empty", "--runs-dir", runs], capsys
    )
    _one_error_line(code, err, "config.toml is missing")


def test_hostile_images_for_inspect_are_one_line_each(trained_run, tmp_path, capsys):
    for path, needle in hostile_images(tmp_path / "images").values():
        code, _, err = run_cli(["inspect", "conv1", "--image", path, "--run", trained_run], capsys)
        line = _one_error_line(code, err, str(path))
        if "no image files" not in needle:  # inspect takes one file, not a folder
            assert needle in line, line


def test_library_messages_are_cut_to_one_line_and_one_sentence():
    from mnist_tui.errors import brief

    miniz = RuntimeError(
        "PytorchStreamReader failed reading zip archive: not a ZIP archive. This is an "
        "internal miniz error. If you are seeing this error, please report a bug."
    )
    assert brief(miniz) == "PytorchStreamReader failed reading zip archive: not a ZIP archive"
    state_dict = RuntimeError(
        'Error(s) in loading state_dict for SimpleCNN:\n\tMissing key(s) in state_dict: "a".\n'
        '\tUnexpected key(s) in state_dict: "b".'
    )
    assert brief(state_dict) == 'Missing key(s) in state_dict: "a"'
    assert brief(ValueError("")) == "ValueError"
    long = brief(OSError("word " * 100), limit=40)
    assert len(long) <= 43 and long.endswith("...") and "\n" not in long


@pytest.mark.parametrize("damage", ["folder", "broken link"])
def test_a_checkpoint_that_is_a_folder_or_a_broken_link_is_named_as_such(
    trained_run, synthetic_root, tmp_path, capsys, damage
):
    run = _copy_run(trained_run, tmp_path)
    (run / "checkpoint.pt").unlink()
    if damage == "folder":
        (run / "checkpoint.pt").mkdir()
        needle = "is a folder, not a checkpoint file"
    else:
        (run / "checkpoint.pt").symlink_to(tmp_path / "gone.pt")
        needle = "which does not exist"
    for command in (["inspect", "conv1", "--run", run], ["eval", run, "--root", synthetic_root]):
        code, _, err = run_cli(command, capsys)
        line = _one_error_line(code, err, needle)
        assert "yet" not in line  # not "no checkpoint.pt yet": the run did save one


def test_brief_cuts_sentences_only_where_one_ends():
    from mnist_tui.errors import brief

    assert brief(OSError("cannot identify image file '/tmp/a. b.png'")) == (
        "cannot identify image file '/tmp/a. b.png'"
    )
    assert brief(ValueError("Expected e.g. 3 values. Got 2.")) == "Expected e.g. 3 values"
    assert brief(RuntimeError(":\n")) == "RuntimeError"  # nothing left: the type says it
