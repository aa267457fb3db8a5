"""`mnist export`: every format written from a run trained here, then loaded back by a
fresh `python -I` process that never imports mnist_tui, and compared with PyTorch."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image

from mnist_tui.cli import main
from mnist_tui.data.files import parse_idx, raw_dir
from mnist_tui.data.specs import DATASETS
from mnist_tui.export import roundtrip
from mnist_tui.export.core import BUNDLE_FILES, MANIFEST, normalise
from mnist_tui.models import checkpoints

CHECK = ["--check-images", "200"]

# Loads every export in one isolated interpreter (no PYTHONPATH, no mnist_tui), runs each
# on inputs.npy and saves the results, and says whether mnist_tui got imported on the way.
LOADER = """
import json, sys
import numpy as np
import onnxruntime
import torch

jobs, inputs, outputs = json.loads(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3]
results = {}
for name, (kind, path) in jobs.items():
    if kind == "onnx":
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        for size in (1, 3, len(inputs)):  # the export traced a batch of 2: all must work
            chunks = [inputs[i : i + size] for i in range(0, len(inputs), size)]
            results[f"{name}@{size}"] = np.concatenate(
                [session.run(None, {"input": chunk})[0] for chunk in chunks]
            )
        results[name] = results[f"{name}@{len(inputs)}"]
    elif kind == "pt2":
        model = torch.export.load(path).module()
        with torch.no_grad():
            results[name] = model(torch.from_numpy(inputs)).numpy()
    elif kind == "weights":
        state = torch.load(path, map_location="cpu", weights_only=True)
        results[name] = np.array([float(v.double().sum()) for _, v in sorted(state.items())])
    else:
        model = torch.jit.load(path, map_location="cpu").eval()
        with torch.no_grad():
            results[name] = model(torch.from_numpy(inputs)).numpy()
np.savez(outputs, **results)
print(json.dumps({"mnist_tui": any(m.split(".")[0] == "mnist_tui" for m in sys.modules)}))
"""


def export(run: Path, data_root: Path, out: Path, fmt: str, capsys, *extra: str):
    return run_cli(
        ["export", run, "--format", fmt, "--out", out, "--root", data_root, *CHECK, *extra],
        capsys,
    )


@pytest.fixture(scope="module")
def test_images(synthetic_root: Path) -> tuple[np.ndarray, np.ndarray]:
    spec = DATASETS["mnist"]
    folder = raw_dir(synthetic_root, spec)
    images = parse_idx((folder / spec.filenames["test-images"]).read_bytes())
    labels = parse_idx((folder / spec.filenames["test-labels"]).read_bytes())
    return images[:200], labels[:200].astype(np.int64)


@pytest.fixture(scope="module")
def reference(trained_run: Path, test_images) -> tuple[np.ndarray, np.ndarray, dict]:
    """(inputs, PyTorch logits, checkpoint) computed here, independently of the export."""
    checkpoint = checkpoints.load(trained_run / "checkpoint.pt")
    model = checkpoints.model_from_checkpoint(checkpoint)
    inputs = normalise(test_images[0], checkpoint["mean"], checkpoint["std"])
    with torch.no_grad():
        logits = model(torch.from_numpy(inputs)).numpy()
    return inputs, logits, checkpoint


@pytest.fixture(scope="module")
def exports(trained_run, synthetic_root, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """One export per format (all = bundle + onnx), made through the CLI entry point."""
    made = {}
    root = tmp_path_factory.mktemp("exports")
    for fmt in ("all", "pt2", "torchscript", "onnx"):
        out = root / fmt
        args = ["export", str(trained_run), "--format", fmt, "--out", str(out)]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as exit_:
            main([*args, "--root", str(synthetic_root), *CHECK])
        assert exit_.value.code == 0
        made[fmt] = (out, printed.getvalue())
    return made


@pytest.fixture(scope="module")
def loaded_back(exports, reference, tmp_path_factory) -> dict[str, np.ndarray]:
    """Every exported file's outputs, computed by a fresh `python -I` process."""
    inputs, _, _ = reference
    tmp = tmp_path_factory.mktemp("loaded")
    np.save(tmp / "inputs.npy", inputs)
    jobs = {
        "all/model.pt2": ("pt2", str(exports["all"][0] / "model.pt2")),
        "pt2/model.pt2": ("pt2", str(exports["pt2"][0] / "model.pt2")),
        "all/model.pt": ("torchscript", str(exports["all"][0] / "model.pt")),
        "all/model.onnx": ("onnx", str(exports["all"][0] / "model.onnx")),
        "torchscript/model.pt": ("torchscript", str(exports["torchscript"][0] / "model.pt")),
        "onnx/model.onnx": ("onnx", str(exports["onnx"][0] / "model.onnx")),
        "all/weights.pt": ("weights", str(exports["all"][0] / "weights.pt")),
    }
    command = [sys.executable, "-I", "-c", LOADER, json.dumps(jobs)]
    done = subprocess.run(
        [*command, str(tmp / "inputs.npy"), str(tmp / "outputs.npz")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"mnist_tui": False}
    with np.load(tmp / "outputs.npz") as saved:
        return dict(saved)


@pytest.mark.slow
def test_formats_write_exactly_their_files(exports):
    def written(fmt: str) -> list[str]:
        out = exports[fmt][0]
        manifest = json.loads((out / MANIFEST).read_text())
        names = sorted(p.name for p in out.iterdir() if p.name != MANIFEST)
        assert sorted(manifest["files"]) == names  # the manifest names exactly what is there
        return names

    assert written("all") == sorted([*BUNDLE_FILES, "model.onnx"])
    assert written("pt2") == ["model.pt2"]
    assert written("torchscript") == ["model.pt"]
    assert written("onnx") == ["model.onnx"]


@pytest.mark.parametrize(
    "name",
    [
        "all/model.pt2",
        "pt2/model.pt2",
        "all/model.pt",
        "all/model.onnx",
        "torchscript/model.pt",
        "onnx/model.onnx",
        "onnx/model.onnx@1",
        "onnx/model.onnx@3",
    ],
)
@pytest.mark.slow
def test_export_round_trips_in_a_process_without_mnist_tui(loaded_back, reference, name):
    _, logits, _ = reference
    loaded = loaded_back[name]
    assert loaded.shape == logits.shape
    assert (loaded.argmax(1) == logits.argmax(1)).all()
    np.testing.assert_allclose(loaded, logits, atol=1e-4, rtol=1e-4)


def test_bundle_weights_are_the_checkpoints_and_load_weights_only(loaded_back, reference):
    _, _, checkpoint = reference
    expected = [float(v.double().sum()) for _, v in sorted(checkpoint["state_dict"].items())]
    np.testing.assert_allclose(loaded_back["all/weights.pt"], expected, rtol=1e-12)


def test_bundle_documents_describe_the_model(exports, reference, trained_run):
    folder = exports["all"][0]
    _, _, checkpoint = reference
    labels = json.loads((folder / "labels.json").read_text())
    assert labels == {str(i): c for i, c in enumerate(checkpoint["classes"])}
    preprocess = json.loads((folder / "preprocess.json").read_text())
    assert preprocess["input"]["shape"] == [1, 1, 28, 28]
    assert preprocess["normalize"]["mean"] == pytest.approx(checkpoint["mean"])
    assert preprocess["normalize"]["std"] == pytest.approx(checkpoint["std"])
    steps = [step["step"] for step in preprocess["from_any_image"]]
    assert {"polarity", "centre"} <= set(steps)
    assert (folder / "config.toml").read_bytes() == (trained_run / "config.toml").read_bytes()
    card = (folder / "README.md").read_text()
    assert "simple_cnn" in card and "206,922" in card and "test accuracy" in card


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_single_files_carry_labels_and_preprocessing(exports):
    import onnx

    folder = exports["all"][0]
    extra = {"labels.json": "", "preprocess.json": ""}
    torch.jit.load(str(exports["torchscript"][0] / "model.pt"), _extra_files=extra)
    in_program = {"labels.json": "", "preprocess.json": ""}
    torch.export.load(str(exports["pt2"][0] / "model.pt2"), extra_files=in_program)
    props = {
        p.key: p.value for p in onnx.load(str(exports["onnx"][0] / "model.onnx")).metadata_props
    }
    for name in ("labels.json", "preprocess.json"):
        expected = json.loads((folder / name).read_text())
        assert json.loads(extra[name]) == expected
        assert json.loads(in_program[name]) == expected
        assert json.loads(props[name]) == expected


@pytest.mark.slow
def test_readme_snippets_run_as_written_and_predict_the_right_digit(exports, test_images):
    folder = exports["all"][0]
    card = (folder / "README.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    assert len(snippets) == 2  # plain PyTorch with model.pt2, onnxruntime with model.onnx
    assert 'torch.export.load("model.pt2")' in snippets[0] and "torch.jit" not in snippets[0]
    index = int(re.search(r"test image #(\d+)", card).group(1))
    true_label = str(test_images[1][index])
    for snippet in snippets:
        done = subprocess.run(
            # -W error: the snippet must not warn (torch.jit.load's FutureWarning did).
            [sys.executable, "-I", "-W", "error", "-c", snippet],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[0] == true_label


def test_export_prints_its_check(exports):
    out = exports["all"][1]
    assert "200/200" in out and "bundle" in out and "onnx" in out
    assert "dynamic batch dimension" in out and "weights.pt = model.pt2's weights" in out
    assert re.search(r"bundle\s+model\.pt2\s+torch\.export", out)
    assert re.search(r"torchscript\s+model\.pt\s+torch\.jit", out)
    assert re.search(r"\d\.\d+ ms", out)


# --- the check itself catches differences ---------------------------------------------------


def test_compare_counts_digits_and_differences():
    reference = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0]], dtype=np.float32)
    assert roundtrip.compare(reference, reference.copy()) == (2, 0.0, True)
    same_digits = reference + np.float32(0.01)
    same, diff, within = roundtrip.compare(reference, same_digits)
    assert (same, within) == (2, False) and diff == pytest.approx(0.01, rel=1e-3)
    swapped = reference[:, ::-1].copy()
    assert roundtrip.compare(reference, swapped)[0] == 0
    assert roundtrip.compare(reference, reference[:1]) == (0, float("inf"), False)


@pytest.mark.slow
def test_check_fails_when_the_loaded_model_disagrees(exports, reference, tmp_path):
    inputs, logits, _ = reference
    np.save(tmp_path / "inputs.npy", inputs)
    model = exports["torchscript"][0] / "model.pt"
    other = logits[:, ::-1].copy()  # as if the file held another model
    check = roundtrip.check_export("torchscript", model, tmp_path / "inputs.npy", other, tmp_path)
    assert not check.passed and "different digit" in check.problems[0]


# --- bad input -------------------------------------------------------------------------------


def test_refuses_a_non_empty_folder_and_keeps_it(trained_run, synthetic_root, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = export(trained_run, synthetic_root, out, "torchscript", capsys)
    assert code != 0 and "not empty" in err and "--force" in err and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_force_replaces_an_earlier_export(exports, trained_run, synthetic_root, tmp_path, capsys):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(exports["all"][0], out)
    (out / "notes.txt").write_text("mine")
    code, _, err = export(trained_run, synthetic_root, out, "torchscript", capsys, "--force")
    assert code == 0, err
    # model.onnx and the rest of the old bundle would no longer match: removed.
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "model.pt", "notes.txt"]
    assert not list(tmp_path.glob(".out.*"))  # no staging folder left behind


@pytest.mark.slow
def test_force_never_replaces_or_removes_the_users_own_files(
    trained_run, synthetic_root, tmp_path, capsys
):
    # A project folder (no earlier export in it) that happens to use the bundle's names.
    out = tmp_path / "project"
    out.mkdir()
    mine = {"README.md": "my project", "config.toml": "x = 1", "labels.json": "[]"}
    for name, text in mine.items():
        (out / name).write_text(text)
    code, _, err = export(trained_run, synthetic_root, out, "bundle", capsys, "--force")
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "README.md" in err and "config.toml" in err and "no export manifest" in err
    assert {p.name: p.read_text() for p in out.iterdir()} == mine
    # A format that clashes with none of them is added beside them, deleting nothing.
    code, _, err = export(trained_run, synthetic_root, out, "torchscript", capsys, "--force")
    assert code == 0, err
    assert {p.name: p.read_text() for p in out.iterdir() if p.name in mine} == mine
    assert (out / "model.pt").is_file()


def test_never_exports_into_a_run_folder(trained_run, synthetic_root, capsys):
    before = sorted(p.name for p in trained_run.iterdir())
    code, _, err = export(trained_run, synthetic_root, trained_run, "bundle", capsys, "--force")
    assert code != 0 and "is a run folder" in err
    assert sorted(p.name for p in trained_run.iterdir()) == before


def test_missing_onnx_extra_is_named_before_anything_is_written(
    trained_run, synthetic_root, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    code, _, err = export(trained_run, synthetic_root, tmp_path / "out", "onnx", capsys)
    assert code != 0 and "onnxscript" in err and "mnist-tui[onnx]" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pickle"], "--format 'pickle'"),
        (["--check-images", "0"], "at least 1"),
    ],
)
def test_bad_options(trained_run, synthetic_root, tmp_path, capsys, args, message):
    code, _, err = run_cli(
        ["export", trained_run, "--out", tmp_path / "out", "--root", synthetic_root, *args],
        capsys,
    )
    assert code != 0 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_out_that_is_a_file(trained_run, synthetic_root, tmp_path, capsys):
    out = tmp_path / "model.pt"
    out.write_text("keep")
    code, _, err = export(trained_run, synthetic_root, out, "torchscript", capsys)
    assert code != 0 and "is a file" in err
    assert out.read_text() == "keep"


def test_missing_test_images(trained_run, tmp_path, capsys):
    code, _, err = export(trained_run, tmp_path / "nodata", tmp_path / "out", "bundle", capsys)
    assert code != 0 and "real test images" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_unknown_run_and_damaged_checkpoint(trained_run, synthetic_root, tmp_path, capsys):
    code, _, err = export(tmp_path / "nope", synthetic_root, tmp_path / "out", "bundle", capsys)
    assert code != 0 and "No run" in err
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")
    code, _, err = export(broken, synthetic_root, tmp_path / "out", "bundle", capsys)
    assert code != 0 and "checkpoint" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


# --- mnist predict --export -----------------------------------------------------------------


@pytest.fixture(scope="module")
def digit_pngs(test_images, tmp_path_factory) -> list[Path]:
    """Four test digits as PNG files: two as MNIST has them, two dark on white paper."""
    folder = tmp_path_factory.mktemp("pngs")
    paths = []
    for i in range(4):
        image = test_images[0][i] if i < 2 else 255 - test_images[0][i]
        path = folder / f"digit{i}.png"
        Image.fromarray(image).resize((84, 84), Image.Resampling.BICUBIC).save(path)
        paths.append(path)
    return paths


def predictions(args: list, capsys) -> list[dict]:
    code, out, err = run_cli(["predict", *args, "--json", "--top-k", "10"], capsys)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize(
    "model",
    [
        "all",
        "all/model.pt2",
        "pt2/model.pt2",
        "all/model.pt",
        "all/model.onnx",
        "torchscript/model.pt",
        "onnx/model.onnx",
    ],
)
def test_predict_with_an_exported_model_matches_the_run(
    exports, trained_run, digit_pngs, capsys, model
):
    fmt, _, name = model.partition("/")
    from_run = predictions([*digit_pngs, "--run", trained_run], capsys)
    from_export = predictions([*digit_pngs, "--export", exports[fmt][0] / name], capsys)
    assert [r["digit"] for r in from_export] == [r["digit"] for r in from_run]
    for exported, original in zip(from_export, from_run, strict=True):
        got = {e["digit"]: e["probability"] for e in exported["top_k"]}
        want = {e["digit"]: e["probability"] for e in original["top_k"]}
        assert got == pytest.approx(want, abs=1e-5)


def test_predict_uses_the_bundles_labels(exports, digit_pngs, tmp_path, capsys):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(exports["all"][0], bundle)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (bundle / "labels.json").write_text(json.dumps(dict(enumerate(names))))
    digits = [r["digit"] for r in predictions([digit_pngs[0], "--export", bundle], capsys)]
    # The same file's embedded copy of labels.json still says "0".."9"; the folder's wins.
    onnx_copy = tmp_path / "alone.onnx"
    shutil.copy(bundle / "model.onnx", onnx_copy)
    plain = [r["digit"] for r in predictions([digit_pngs[0], "--export", onnx_copy], capsys)]
    assert isinstance(plain[0], int) and digits == [names[plain[0]]]


def test_predict_model_bad_input(exports, trained_run, digit_pngs, tmp_path, capsys):
    import shutil

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a protobuf" * 10)
    text = tmp_path / "model.pt"
    text.write_text("hello")
    empty = tmp_path / "empty"
    empty.mkdir()
    damaged = tmp_path / "damaged"
    shutil.copytree(exports["all"][0], damaged)
    (damaged / "preprocess.json").write_text("{not json")
    cases = [
        (["--export", tmp_path / "missing"], "no such file"),
        (["--export", empty], "no model.pt2, model.pt or model.onnx"),
        (["--export", text], "not a TorchScript model"),
        (["--export", trained_run / "checkpoint.pt"], "--run"),
        (["--export", garbage], "not a usable ONNX model"),
        (["--export", damaged], "damaged"),
        (["--export", exports["all"][0], "--run", trained_run], "not both"),
    ]
    for args, message in cases:
        code, _, err = run_cli(["predict", digit_pngs[0], *args], capsys)
        assert code != 0 and message in err, (args, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_predict_model_is_the_architecture_option_elsewhere(tmp_path, capsys):
    # Issue 20, defect 6: --model names an architecture in train and inspect; predict's
    # exported model is --export, and the old spelling says so in one line, loading nothing.
    code, _, err = run_cli(["predict", tmp_path / "x.png", "--model", tmp_path / "bundle"], capsys)
    assert code != 0
    assert f"--export {tmp_path / 'bundle'}" in err and "architecture" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
