"""The `mnist train` settings as Typer options, shared by `mnist train` and `mnist sweep`.

One definition per setting: its help comes from config.FIELDS (help_for), so both
commands describe and check a setting the same way.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mnist_tui.config import help_for

DatasetOption = Annotated[str | None, typer.Option(help=help_for("dataset"))]
EpochsOption = Annotated[int | None, typer.Option(help=help_for("epochs"))]
BatchSizeOption = Annotated[int | None, typer.Option(help=help_for("batch_size"))]
LrOption = Annotated[float | None, typer.Option(help=help_for("lr"))]
MomentumOption = Annotated[float | None, typer.Option(help=help_for("momentum"))]
Beta2Option = Annotated[float | None, typer.Option(help=help_for("beta2"))]
WeightDecayOption = Annotated[float | None, typer.Option(help=help_for("weight_decay"))]
OptimizerOption = Annotated[str | None, typer.Option(help=help_for("optimizer"))]
SchedulerOption = Annotated[str | None, typer.Option(help=help_for("scheduler"))]
PatienceOption = Annotated[int | None, typer.Option(help=help_for("patience"))]
ValSizeOption = Annotated[int | None, typer.Option(help=help_for("val_size"))]
LabelSmoothingOption = Annotated[float | None, typer.Option(help=help_for("label_smoothing"))]
AugmentOption = Annotated[bool | None, typer.Option(help=help_for("augment"))]
SeedOption = Annotated[int | None, typer.Option(help=help_for("seed"))]
DeterministicOption = Annotated[bool | None, typer.Option(help=help_for("deterministic"))]
DeviceOption = Annotated[str | None, typer.Option(help=help_for("device"))]
PrecisionOption = Annotated[str | None, typer.Option(help=help_for("precision"))]
NameOption = Annotated[str | None, typer.Option(help=help_for("name"))]
EmaOption = Annotated[float | None, typer.Option(metavar="DECAY", help=help_for("ema"))]
