"""`mnist export`: a run's model as files another program can use, each one checked.

Formats: `bundle` (weights.pt, model.pt2, model.pt, labels.json, preprocess.json,
config.toml, example.png, README.md), `pt2` (model.pt2: a torch.export program),
`torchscript` (model.pt), `onnx` (model.onnx), `all` (the bundle plus model.onnx).
torch.export's program is the bundle's main model (its card's snippet loads it):
torch.jit is deprecated upstream, and TorchScript stays as a format while torch ships it.

Everything is written into a hidden staging folder next to `--out`, loaded back in a
fresh process and compared with the PyTorch model on real test images (`roundtrip.py`);
only an export that passes is moved into `--out`.

model.pt2, model.pt and model.onnx also carry labels.json and preprocess.json inside
(extra files, ONNX metadata), so a single file is enough for `mnist predict --export`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from mnist_tui.data.files import read_verified
from mnist_tui.data.specs import spec_for, standardise
from mnist_tui.errors import ConfigError, DataError, ExportError, RunError, brief
from mnist_tui.export import model_card, roundtrip
from mnist_tui.fsutil import (
    TOML_MAX_BYTES,
    atomic_write_bytes,
    describe_os_error,
    make_owned_dir,
    read_regular,
    remove_stale_dirs,
)
from mnist_tui.imaging import prepare as imaging
from mnist_tui.models import checkpoints
from mnist_tui.models.architectures import count_parameters
from mnist_tui.runs.folders import RunFolder, iso

BUNDLE_FILES = (
    "weights.pt",
    "model.pt2",
    "model.pt",
    "labels.json",
    "preprocess.json",
    "config.toml",
    "example.png",
    "README.md",
)
FILES = {
    "bundle": BUNDLE_FILES,
    "pt2": ("model.pt2",),
    "torchscript": ("model.pt",),
    "onnx": ("model.onnx",),
    "all": (*BUNDLE_FILES, "model.onnx"),
}
FORMATS = tuple(FILES)
#: What each format's check loads: the bundle is checked through its model.pt2 (with
#: weights.pt and labels.json beside it), and its model.pt on its own.
CHECKS = {
    "bundle": (("bundle", ""), ("torchscript", "model.pt")),
    "pt2": (("pt2", "model.pt2"),),
    "torchscript": (("torchscript", "model.pt"),),
    "onnx": (("onnx", "model.onnx"),),
    "all": (("bundle", ""), ("torchscript", "model.pt"), ("onnx", "model.onnx")),
}
EXPORT_FILE_NAMES = frozenset(FILES["all"])
#: Which files an export wrote, so that --force replaces those and never a user's own.
MANIFEST = ".mnist-export.json"
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
METADATA_FILES = ("labels.json", "preprocess.json")  # embedded in every model file


@dataclass(frozen=True)
class ExportResult:
    """What was written and how each file fared when loaded back."""

    run_id: str
    model: str
    parameters: int
    test_acc: float | None
    out: Path
    files: tuple[str, ...]
    checks: list[roundtrip.CheckResult]
    eager_latency_ms: float
    images: int


# --- the documents -------------------------------------------------------------------------


def labels_document(classes: list[str]) -> dict[str, str]:
    """labels.json: class index (as a string, JSON keys are strings) -> label."""
    return {str(index): label for index, label in enumerate(classes)}


def preprocess_document(mean: float, std: float, num_classes: int) -> dict[str, Any]:
    """preprocess.json: enough to rebuild the model's input in any language.

    The `from_any_image` steps describe imaging.prepare_image; its constants are read
    from there so the description cannot drift from what `mnist predict` does.
    """
    return {
        "input": {
            "name": "input",
            "shape": [1, 1, imaging.FIELD, imaging.FIELD],
            "dtype": "float32",
            "layout": "NCHW: batch, channel, height, width; the batch size may vary",
        },
        "output": {
            "name": "logits",
            "shape": [1, num_classes],
            "meaning": "unnormalised class scores; softmax gives probabilities; "
            "labels.json names each index",
        },
        "pixels": {
            "scale": "greyscale value / 255, giving 0..1",
            "polarity": "light ink on a dark background (MNIST's own polarity)",
        },
        "normalize": {"mean": mean, "std": std, "formula": "(pixel - mean) / std"},
        "from_any_image": [
            {
                "step": "greyscale",
                "rule": "luminance 0.299 R + 0.587 G + 0.114 B in 0..1; transparent "
                "pixels composited onto a background that contrasts with the opaque ones",
            },
            {
                "step": "working size",
                "rule": f"reduce (box average) to at most {imaging.WORK_SIDE} pixels on the "
                f"longer side; refuse over {imaging.MAX_PIXELS // 1_000_000} megapixels or an "
                f"aspect ratio over {imaging.MAX_ASPECT}:1",
            },
            {
                "step": "polarity",
                "rule": "background level = median of the border pixels (border width "
                "max(1, min(height, width) // 20)); the 5% of pixels furthest from it "
                "are the ink; if their mean is below the level (dark ink on light "
                "paper), the image is used as it is, else inverted (x = 1 - x), so that "
                "the paper is light",
            },
            {
                "step": "paper",
                "rule": "paper level = 90th percentile of each of about 16x16 blocks, "
                "3x3 median over blocks, bilinear back to full size; ink = clip((paper - "
                "x) / paper, 0, 1): ink relative to the local paper",
            },
            {
                "step": "paper lines",
                "rule": "grey opening along rows and columns with a line 85% of the "
                "image long (tilt up to 1.5 degrees tolerated); pixels explained by such "
                "a line lose it",
            },
            {
                "step": "ink",
                "rule": f"hysteresis threshold: strong = Otsu's threshold of the pixels "
                f"above {imaging.NOISE_SIGMAS:g} robust standard deviations of noise, weak = "
                f"half of it; no digit if the strongest ink is under {imaging.MIN_CONTRAST:g}",
            },
            {
                "step": "digits",
                "rule": "connected components; specks, weak blobs and paper-line remains "
                "dropped; pieces overlapping horizontally by half joined; groups wider "
                "than 1.25 times their height cut at the thinnest column; left to right",
            },
            {
                "step": "crop",
                "rule": f"each digit's ink (above the noise, stretched so its 95th "
                f"percentile is 1), bounding box leaving out {imaging.TRIM_MASS:.1%} of the "
                "ink mass on each side, plus a margin of 10% of its longer side",
            },
            {
                "step": "stroke",
                "rule": "when the stroke would be under 1.6 or over 9 pixels wide at the "
                "20-pixel box (and the digit is over 28 pixels), it is redrawn: skeleton, "
                "round pen 2.6 pixels wide, 4x supersampled",
            },
            {
                "step": "fit",
                "rule": f"resize (Lanczos, aspect ratio kept) so the box's longer side "
                f"is {imaging.BOX} pixels, as MNIST size-normalised its digits",
            },
            {
                "step": "centre",
                "rule": f"place in a {imaging.FIELD}x{imaging.FIELD} black field, "
                f"shifted by whole pixels so the centre of mass (row, column) lands at "
                f"({imaging.FIELD / 2:g}, {imaging.FIELD / 2:g})",
            },
        ],
    }


# --- the formats ---------------------------------------------------------------------------


def require_onnx_extra() -> None:
    """Fail before any work when the optional ONNX packages are missing."""
    missing = []
    for name in ONNX_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ExportError(
            f"ONNX export needs the onnx extra ({', '.join(missing)} missing): "
            "pip install 'mnist-tui[onnx]'."
        )


def to_torchscript(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """Script the model (keeps any control flow); trace it where scripting is not possible."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated upstream but still supported
        try:
            return torch.jit.script(model)
        except Exception:  # TorchScript rejects many Python features; a trace needs none
            return torch.jit.trace(model, example)


def write_torchscript(
    model: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, str]
) -> None:
    """Serialised in memory, then written by Python: torch's own file writer aborts the
    whole process (c10::Error, exit 134) when the disk fills; a Python write raises OSError."""
    scripted = to_torchscript(model, example)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(scripted, buffer, _extra_files=metadata)
    path.write_bytes(buffer.getbuffer())


def write_program(
    model: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, str]
) -> None:
    """model.pt2: torch.export's program (graph and weights), batch dimension dynamic.

    Loaded with `torch.export.load(path).module()`, no Python class needed.
    """
    batch = torch.export.Dim("batch")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracing notes, not problems of the export
            program = torch.export.export(model.eval(), (example,), dynamic_shapes=({0: batch},))
    except Exception as e:  # the exporter raises many types; all mean "cannot export"
        raise ExportError(f"torch.export of this model failed: {brief(e, 160)}.") from None
    torch.export.save(program, str(path), extra_files=metadata)


def write_onnx(
    model: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, str]
) -> None:
    """model.onnx with a dynamic batch dimension and the metadata in its properties."""
    import onnx

    batch = torch.export.Dim("batch")
    quiet = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=["input"],
                output_names=["logits"],
                dynamic_shapes=({0: batch},),
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    except OSError:
        raise  # a failed write (disk full): export_run says so, not "cannot export"
    except Exception as e:  # the exporter raises many types; all mean "cannot export"
        raise ExportError(f"ONNX export of this model failed: {brief(e, 160)}.") from None
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, metadata)
    onnx.save(proto, str(path))


def write_png(pixels_u8: np.ndarray, path: Path) -> None:
    Image.fromarray(pixels_u8, mode="L").save(path)


# --- test images ---------------------------------------------------------------------------


def load_test_images(
    data_root: Path, dataset: str, limit: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The first `limit` test images (uint8, N x 28 x 28) and labels, md5-verified."""
    spec = spec_for(dataset)
    try:
        arrays, _ = read_verified(data_root, spec, ("test-images", "test-labels"))
    except DataError as e:
        raise DataError(f"The export check runs on real test images: {e}") from None
    images, labels = arrays["test-images"], arrays["test-labels"]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return np.ascontiguousarray(images), labels.astype(np.int64)


def normalise(images_u8: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 N x 28 x 28 -> float32 N x 1 x 28 x 28, exactly as the model card's snippet."""
    return standardise(images_u8.astype(np.float32) / 255.0, mean, std)[:, None, :, :]


# --- the output folder ---------------------------------------------------------------------


def check_destination(out: Path, force: bool, files: tuple[str, ...]) -> None:
    """Refuse an --out this export must not write into, before any work is done."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file: --out needs a folder.")
    if (out / "checkpoint.pt").exists() or (out / "summary.toml").exists():
        # --force would replace the run's own config.toml: never export into a run folder.
        raise ExportError(f"{out} is a run folder: choose another --out.")
    if not (out.is_dir() and any(out.iterdir())):
        return
    if not force:
        raise ExportError(
            f"{out} is not empty: choose another --out, or add --force to replace the export in it."
        )
    earlier = earlier_export(out)
    clashes = sorted(name for name in files if (out / name).exists() and name not in earlier)
    if clashes:
        raise ExportError(
            f"{out} has {', '.join(clashes)}, which no export manifest ({MANIFEST}) lists: "
            "your own files, or an export older than the manifest. --force replaces only "
            "files an export listed: remove them or choose another --out."
        )


def _write_manifest(folder: Path, run_id: str, files: tuple[str, ...]) -> None:
    document = json.dumps({"run": run_id, "files": list(files)}, indent=2) + "\n"
    atomic_write_bytes(folder / MANIFEST, document.encode())


def earlier_export(out: Path) -> set[str]:
    """The files an earlier export wrote into `out` (its manifest); none if there is none."""
    try:
        document = json.loads(read_regular(out / MANIFEST, TOML_MAX_BYTES))
    except (OSError, ValueError, RecursionError):
        return set()
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, list):
        return set()
    return {name for name in files if isinstance(name, str) and name in EXPORT_FILE_NAMES}


def _staging_prefix(out: Path) -> str:
    return f".{out.name}.export-"


CHECK_PREFIX = "mnist-export-check-"


def remove_stale_work(out: Path) -> None:
    """The staging folder beside `out` and the check folder in the temp folder of an
    export that was killed: its process is gone, so nothing will ever publish them."""
    remove_stale_dirs(out.parent, _staging_prefix(out))
    remove_stale_dirs(Path(tempfile.gettempdir()), CHECK_PREFIX)


def make_staging(out: Path) -> Path:
    """A hidden folder beside `out` (same filesystem, so publishing is a rename)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_work(out)
        staging = make_owned_dir(out.parent, _staging_prefix(out))
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the export is an ordinary folder
        return staging
    except OSError as e:
        raise ExportError(f"Cannot write to {out.parent}: {e.strerror or e}.") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(staging: Path, out: Path, run_id: str, files: tuple[str, ...]) -> None:
    """Move the checked files, and the manifest naming them, into `out`.

    Into an existing folder (--force), files the earlier export's manifest names that this
    one does not make are removed, so model.pt and model.onnx never come from different
    runs; every other file is left alone.
    """
    try:
        _write_manifest(staging, run_id, files)
        if not out.exists():
            os.replace(staging, out)
            return
        earlier = earlier_export(out)
        # First a manifest naming old and new files alike: if publishing stops halfway,
        # the next --force still knows every export file in the folder as its own.
        _write_manifest(out, run_id, tuple(sorted(earlier | set(files))))
        for stale in earlier - set(files):
            (out / stale).unlink(missing_ok=True)
        for name in (*files, MANIFEST):  # the manifest last: it names what is there
            os.replace(staging / name, out / name)
    except OSError as e:
        raise ExportError(f"Cannot write into {out}: {e.strerror or e}.") from None


@contextlib.contextmanager
def _check_folder() -> Iterator[str]:
    """The export check's working folder in the temp folder, removed however it ends."""
    folder = make_owned_dir(Path(tempfile.gettempdir()), CHECK_PREFIX)
    try:
        yield str(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- the whole export ----------------------------------------------------------------------


def _read_summary(run: RunFolder) -> dict[str, Any]:
    try:
        return run.read_summary()
    except RunError:
        return {}  # the model card says "not recorded"; the weights are what matter


def _config_toml(run: RunFolder, checkpoint: dict[str, Any]) -> bytes:
    with contextlib.suppress(FileNotFoundError):
        return read_regular(run.config, TOML_MAX_BYTES)
    import tomli_w

    return tomli_w.dumps({"train": checkpoint.get("config", {})}).encode()


def export_run(
    run: RunFolder,
    fmt: str,
    out: Path,
    *,
    data_root: Path,
    force: bool = False,
    check_images: int | None = None,
) -> ExportResult:
    """Write `fmt` for `run` into `out`, check it in a fresh process, then publish it."""
    if fmt not in FILES:
        raise ConfigError(f"Unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    if check_images is not None and check_images < 1:
        raise ConfigError("--check-images must be at least 1.")
    if fmt in ("onnx", "all"):
        require_onnx_extra()
    out = Path(out)
    check_destination(out, force, FILES[fmt])
    model, checkpoint = checkpoints.load_model(run.checkpoint)
    classes = [str(c) for c in checkpoint["classes"]]
    mean, std = float(checkpoint["mean"]), float(checkpoint["std"])
    images_u8, labels = load_test_images(data_root, checkpoint["dataset"], check_images)
    inputs = normalise(images_u8, mean, std)
    reference = roundtrip.reference_logits(model, inputs)
    summary = _read_summary(run)

    metadata = {
        "labels.json": json.dumps(labels_document(classes), indent=2),
        "preprocess.json": json.dumps(preprocess_document(mean, std, len(classes)), indent=2),
    }
    sample_batch = torch.from_numpy(inputs[:2].copy())  # 2, not 1: no batch-1 special case
    files = FILES[fmt]
    staging = make_staging(out)
    try:
        with _check_folder() as workdir:
            inputs_file = Path(workdir) / "inputs.npy"
            np.save(inputs_file, inputs)
            _write_files(staging, files, model, sample_batch, metadata, run, checkpoint)
            checks = [
                roundtrip.check_export(kind, staging / name, inputs_file, reference, Path(workdir))
                for kind, name in CHECKS[fmt]
            ]
        failed = [check for check in checks if not check.passed]
        if failed:
            details = "; ".join(f"{c.kind}: {', '.join(c.problems)}" for c in failed)
            raise ExportError(
                f"The export did not survive loading back ({details}); {out} unchanged."
            )
        eager_ms = roundtrip.eager_latency_ms(model, inputs[:1])
        if "README.md" in files:
            example = _pick_example(reference, labels)
            write_png(images_u8[example], staging / "example.png")
            example_labels = (
                classes[int(labels[example])],
                classes[int(reference[example].argmax())],
            )
            facts = _card_facts(
                run, checkpoint, model, summary, files, checks, example, *example_labels
            )
            (staging / "README.md").write_text(model_card.render(facts))
        publish(staging, out, run.id, files)
    except (OSError, RuntimeError) as e:  # disk full, permissions: nothing reached --out
        # RuntimeError: torch's and onnx's writers report a failed write without errno.
        reason = describe_os_error(e) if isinstance(e, OSError) else brief(e)
        raise ExportError(f"Cannot write the export ({reason}); {out} unchanged.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(
        run_id=run.id,
        model=str(checkpoint["model"]),
        parameters=count_parameters(model),
        test_acc=summary.get("test_acc"),
        out=out,
        files=files,
        checks=checks,
        eager_latency_ms=eager_ms,
        images=len(inputs),
    )


def _pick_example(reference: np.ndarray, labels: np.ndarray) -> int:
    """The first check image the model gets right: the card's snippet then shows a hit."""
    correct = np.flatnonzero(reference.argmax(axis=1) == labels)
    return int(correct[0]) if len(correct) else 0


def _card_facts(
    run: RunFolder,
    checkpoint: dict[str, Any],
    model: nn.Module,
    summary: dict[str, Any],
    files: tuple[str, ...],
    checks: list[roundtrip.CheckResult],
    example_index: int,
    example_label: str,
    example_prediction: str,
) -> model_card.CardFacts:
    """Everything the model card states."""
    return model_card.CardFacts(
        run_id=run.id,
        model=str(checkpoint["model"]),
        parameters=count_parameters(model),
        dataset=str(checkpoint["dataset"]),
        classes=[str(c) for c in checkpoint["classes"]],
        mean=float(checkpoint["mean"]),
        std=float(checkpoint["std"]),
        test_acc=summary.get("test_acc"),
        best_val_acc=summary.get("best_val_acc", checkpoint.get("val_acc")),
        best_epoch=summary.get("best_epoch", checkpoint.get("epoch")),
        epochs_run=summary.get("epochs_run"),
        trained=summary.get("ended") or summary.get("started"),
        exported=iso(datetime.now(UTC)),
        torch_version=str(torch.__version__),
        files=list(files),
        example_index=example_index,
        example_label=example_label,
        example_prediction=example_prediction,
        check_lines=[check_line(c) for c in checks],
    )


def _write_files(
    folder: Path,
    files: tuple[str, ...],
    model: nn.Module,
    example: torch.Tensor,
    metadata: dict[str, str],
    run: RunFolder,
    checkpoint: dict[str, Any],
) -> None:
    """Everything but example.png and README.md, which describe the check's outcome."""
    if "weights.pt" in files:
        checkpoints.save(
            {k: v.detach().cpu() for k, v in model.state_dict().items()},
            folder / "weights.pt",
            checksum=False,  # a plain state_dict: other programs load it as one
        )
    if "model.pt2" in files:
        write_program(model, example, folder / "model.pt2", metadata)
    if "model.pt" in files:
        write_torchscript(model, example, folder / "model.pt", metadata)
    if "model.onnx" in files:
        write_onnx(model, example, folder / "model.onnx", metadata)
    for name in METADATA_FILES:
        if name in files:
            (folder / name).write_text(metadata[name] + "\n")
    if "config.toml" in files:
        (folder / "config.toml").write_bytes(_config_toml(run, checkpoint))


# --- the report ----------------------------------------------------------------------------


def check_line(check: roundtrip.CheckResult) -> str:
    """One line: what was loaded, by what, how close it came and how fast it ran."""
    what = f"{check.kind} ({check.path.name})" if check.kind != "bundle" else "bundle (model.pt2)"
    notes = f"; {', '.join(check.notes)}" if check.notes else ""
    return (
        f"{what} with {check.runtime}: same digit on {check.same_argmax:,}/{check.images:,} "
        f"test images, max |logit difference| {check.max_abs_diff:.1e}, "
        f"{check.latency_ms:.3f} ms per single image{notes}"
    )


def report_lines(result: ExportResult) -> list[str]:
    """What `mnist export` prints on success: the files, then the check as a table."""
    accuracy = "" if result.test_acc is None else f", test accuracy {result.test_acc:.2%}"
    row = "  {:<11} {:<11} {:<31} {:>11} {:>11} {:>10}  {}"
    lines = [
        f"Exported run {result.run_id} ({result.model}, {result.parameters:,} parameters"
        f"{accuracy}) to {result.out}/",
        f"  files: {' '.join(result.files)}",
        f"Checked: loaded back in a fresh Python process (without mnist_tui) and compared "
        f"with PyTorch on {result.images:,} test images:",
        row.format("format", "file", "runtime", "same digit", "max |diff|", "latency", "").rstrip(),
    ]
    for check in result.checks:
        file = "model.pt2" if check.kind == "bundle" else check.path.name
        lines.append(
            row.format(
                check.kind,
                file,
                check.runtime,
                f"{check.same_argmax}/{check.images}",
                f"{check.max_abs_diff:.1e}",
                f"{check.latency_ms:.3f} ms",
                ", ".join(check.notes),
            ).rstrip()
        )
    lines.append(
        row.format(
            "reference",
            "-",
            f"torch eager {torch.__version__}",
            "",
            "",
            f"{result.eager_latency_ms:.3f} ms",
            "",
        ).rstrip()
    )
    lines.append(
        f"All outputs within {roundtrip.ABS_TOLERANCE:g} (+{roundtrip.REL_TOLERANCE:g} x |logit|); "
        f"latency: median of {roundtrip.LATENCY_REPEATS} single-image forward passes, 1 CPU thread."
    )
    return lines
