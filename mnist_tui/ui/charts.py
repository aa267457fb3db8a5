"""Line charts in the terminal: plotext drawn inside Rich, at the console's width.

Plain data in (epochs and floats). On a terminal with colour the charts are plotext's;
elsewhere (pipes, --plain, NO_COLOR) each series is one line of plain text, so logs get
the numbers rather than box drawing and block characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

CHART_HEIGHT = 14
#: Below this width a chart's curve has no room: the charts go one under the other.
MIN_CHART_WIDTH = 44


@dataclass(frozen=True)
class Chart:
    """One chart: a title and named series over the same x values; `mark` is an x value
    (the best epoch) shown as its own point and named in the title."""

    title: str
    x: list[int]
    series: dict[str, list[float]]
    mark: int | None = None
    fmt: str = "{:.4f}"
    notes: list[str] = field(default_factory=list)


def _plotext_lines(charts: list[Chart], width: int, height: int) -> str:
    """The charts side by side (or stacked when narrow), as one ANSI string."""
    import plotext

    figure = plotext.figure
    figure.clear()
    side_by_side = width // len(charts) >= MIN_CHART_WIDTH
    rows, cols = (1, len(charts)) if side_by_side else (len(charts), 1)
    figure.plot_size(width, height * rows)
    figure.subplots(rows, cols)
    for i, chart in enumerate(charts):
        plot = figure.subplot(1, i + 1) if side_by_side else figure.subplot(i + 1, 1)
        plot.theme("simple")
        plot.canvas("default")  # the terminal's own background, not a painted block
        for values in chart.series.values():
            plot.draw(plot.signal(chart.x, values).lines())
        title = chart.title
        if chart.mark in chart.x:  # the mark as its own point, named in the title
            at = chart.x.index(chart.mark)
            for values in chart.series.values():
                plot.draw(plot.signal([chart.mark], [values[at]], marker="x"))
            title += f" (x: best epoch {chart.mark})"
        plot.legend(active=False)  # its box would hide the curve; the title says it all
        plot.title(title)
        plot.ruler(axis=0).ticks(_ticks(chart.x))
    return figure.build().string()


def _ticks(x: list[int]) -> list[int]:
    """Whole epochs, at most about 8 of them."""
    step = max(1, -(-len(x) // 8))
    return x[::step]


def _plain_lines(charts: list[Chart]) -> list[str]:
    lines = []
    for chart in charts:
        for name, values in chart.series.items():
            points = ", ".join(
                f"{x} {chart.fmt.format(v)}{'*' if x == chart.mark else ''}"
                for x, v in zip(chart.x, values, strict=True)
            )
            what = chart.title if len(chart.series) == 1 else f"{chart.title}, {name}"
            lines.append(f"{what} by epoch: {points}")
    if any(c.mark is not None for c in charts):
        lines.append("(* the best epoch)")
    return lines


class LineCharts:
    """Rich renderable: `charts` drawn by plotext, or as plain lines (see module doc)."""

    def __init__(self, charts: list[Chart], height: int = CHART_HEIGHT) -> None:
        self.charts = [c for c in charts if c.x]
        self.height = height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.charts:
            return
        drawn = console.is_terminal and console.color_system is not None and not console.no_color
        if not drawn:
            for line in _plain_lines(self.charts):
                yield Text(line)
            return
        drawn_text = _plotext_lines(self.charts, options.max_width, self.height)
        yield Text.from_ansi(drawn_text.rstrip("\n"))
