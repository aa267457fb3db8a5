"""Line charts in the terminal: plotext drawn inside Rich. Plain data in (floats).

Two shapes of chart: `LineCharts` (`mnist show`: one run's curves side by side at the
console's width; plain lines of numbers where there is no terminal) and `line_chart`
(`mnist compare`: many runs overlaid, one colour and marker per run, a legend; the same
chart in plain characters without colour).
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


# --- many runs overlaid (`mnist compare`) -------------------------------------------

#: One marker per series: distinct shapes, readable in plain text.
MARKERS = ("o", "x", "+", "*", "#", "@", "%", "&", "=", "~")
#: 256-colour codes that stay apart on dark and light terminals (Rich: `color(N)`).
COLOURS = (12, 9, 10, 13, 11, 14, 208, 99, 118, 205)
#: Beyond this many series the legend would cover the curves: the caller's table names them.
MAX_LEGEND = 6


@dataclass(frozen=True)
class Series:
    label: str
    x: list[float]
    y: list[float]


def style_of(index: int) -> tuple[str, str]:
    """(marker, Rich colour) of the index-th series, the same in the chart and a table."""
    return MARKERS[index % len(MARKERS)], f"color({COLOURS[index % len(COLOURS)]})"


def line_chart(
    series: list[Series],
    *,
    title: str,
    xlabel: str,
    width: int,
    height: int,
    colour: bool,
    legend_low: bool = True,
) -> Text:
    """A line chart of `series`; `legend_low` puts the legend bottom right (rising curves)."""
    import plotext as plt

    figure = plt.figure
    figure.clear()
    figure.theme("simple")  # no painted frame: it sits on any terminal background
    figure.canvas("default")
    figure.plot_size(max(30, width), max(8, height))
    drawn = [s for s in series if s.x]
    xs = sorted({x for s in drawn for x in s.x})
    ys = [y for s in drawn for y in s.y]
    inside = len(xs) > 1 and len(drawn) <= MAX_LEGEND
    for i, s in enumerate(series):
        if not s.x:
            continue
        marker, _ = style_of(i)
        pixel = plt.pixel(foreground=COLOURS[i % len(COLOURS)])
        signal = figure.signal(list(s.x), list(s.y), marker=plt.marker(marker, pixel=pixel))
        if inside:
            signal.label(s.label)
        signal.lines()
        figure.draw(signal)
    figure.title(title)
    figure.label(xlabel, axis=0)
    if xs:
        # Whole epochs only, at most ~10 ticks, so the labels never crowd.
        every = max(1, -(-len(xs) // 10))
        figure.ruler(axis=0).ticks([x for i, x in enumerate(xs) if i % every == 0])
    # A legend inside the canvas sits where the curves are not (bottom right for rising
    # ones); with a single epoch there is no such place, so it goes under the chart.
    if inside:
        figure.legend(
            x=max(xs),
            y=min(ys) if legend_low else max(ys),
            ha="right",
            va="bottom" if legend_low else "top",
            relative=True,
        )
    built = figure.build()
    figure.clear()
    chart = Text.from_ansi(built.string()) if colour else Text(built.string(colorless=True))
    if not inside and len(drawn) <= 2 * MAX_LEGEND:
        chart.append("\n    ")
        for i, s in enumerate(series):
            if s.x:
                marker, style = style_of(i)
                chart.append(marker, style=style if colour else "")
                chart.append(f" {s.label}   ")
    return chart
