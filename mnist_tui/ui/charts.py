"""Terminal line charts drawn by plotext and handed to Rich as Text.

Plain data in (lists of floats), a Rich renderable out: axes, ticks, a legend, one colour
and one marker character per series, so the series stay apart without colour too (pipes,
CI logs get the same chart in plain characters).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

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
