"""Rich renderables for `mnist eval`, built from a plain EvalReport."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mnist_tui.evaluate.core import EvalReport
from mnist_tui.ui.format import printable

#: Off-diagonal cells at least this large, and among the largest few, are highlighted.
HIGHLIGHTED_CONFUSIONS = 5


def headline(report: EvalReport) -> Text:
    """Accuracy and loss, with what training recorded for the same split."""
    text = Text.assemble(
        (printable(report.run_id), "bold"),
        f"  {report.split} split, {report.samples:,} images  ",
        ("accuracy ", ""),
        (f"{report.accuracy:.2%}", "bold green"),
        f"  ({report.samples - round(report.accuracy * report.samples):,} wrong)  ",
        f"loss {report.loss:.4f}",
    )
    if report.recorded_accuracy is not None:
        agrees = abs(report.recorded_accuracy - report.accuracy) < 1e-12
        note = "matches" if agrees else "differs from"
        text.append(
            f"\n{note} training's record ({report.recorded_accuracy:.2%}); "
            f"{report.device}/{report.precision}",
            style="dim" if agrees else "yellow",
        )
    return text


def confusion_table(report: EvalReport) -> Table:
    """10x10 counts: the diagonal in green, the largest confusions in red."""
    matrix = report.confusion
    off_diagonal = sorted(
        (matrix[t][p] for t in range(len(matrix)) for p in range(len(matrix)) if t != p),
        reverse=True,
    )
    threshold = max(1, off_diagonal[HIGHLIGHTED_CONFUSIONS - 1]) if off_diagonal else 1
    table = Table(title="confusion (rows: true, columns: predicted)", title_justify="left")
    table.add_column("", style="bold", justify="right")
    for label in report.classes:
        table.add_column(_short(label), justify="right")
    for t, row in enumerate(matrix):
        cells = []
        for p, count in enumerate(row):
            # Text with a style, not markup: the consoles read no markup (labels are data).
            if t == p:
                cells.append(Text(str(count), style="bold green"))
            elif count >= threshold:
                cells.append(Text(str(count), style="bold red"))
            elif count == 0:
                cells.append(Text("·", style="dim"))
            else:
                cells.append(Text(str(count)))
        table.add_row(_short(report.classes[t]), *cells)
    return table


def class_table(report: EvalReport) -> Table:
    """Precision, recall, F1 and support per class."""
    table = Table(title="per class", title_justify="left")
    for name, justify in (
        ("class", "left"),
        ("precision", "right"),
        ("recall", "right"),
        ("F1", "right"),
        ("images", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    worst_f1 = min((s.f1 for s in report.per_class), default=0.0)
    for s in report.per_class:
        style = "yellow" if s.f1 == worst_f1 else ""
        table.add_row(
            s.label,
            f"{s.precision:.2%}",
            f"{s.recall:.2%}",
            f"{s.f1:.2%}",
            f"{s.support:,}",
            style=style,
        )
    return table


def pairs_text(report: EvalReport) -> Text:
    """The most confused pairs in words: "4 read as 9: 12 times"."""
    if not report.pairs:
        return Text("No confusions: every image was classified correctly.", style="green")
    text = Text("most confused:\n", style="bold")
    for pair in report.pairs:
        text.append(f"  {pair.sentence()}\n", style="")
    return text


def eval_view(report: EvalReport) -> RenderableType:
    return Group(
        headline(report), Text(""), confusion_table(report), class_table(report), pairs_text(report)
    )


def _short(label: str) -> str:
    """Column headers stay narrow for long class names (Fashion-MNIST)."""
    return label if len(label) <= 6 else label[:5] + "."
