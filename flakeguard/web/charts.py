"""Small charts drawn on the server as inline SVG: no script, no network, escaped labels.

Each chart is an ``<svg role="img">`` with an ``aria-label`` and a ``<title>``
that say in words what it shows, so the picture is never the only way to read it.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

WIDTH = 120
HEIGHT = 28
PAD = 2
NBSP = "\u00a0"


def _points(values: Sequence[float], width: int, height: int, top: float) -> list[str]:
    step = (width - 2 * PAD) / max(len(values) - 1, 1)
    usable = height - 2 * PAD
    return [
        f"{PAD + i * step:.1f},{PAD + usable - (value / top) * usable:.1f}"
        for i, value in enumerate(values)
    ]


def sparkline(
    values: Sequence[float],
    *,
    label: str,
    css: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
    top: float | None = None,
) -> Markup:
    """A line of ``values`` (oldest first) scaled to ``top`` (default: their maximum)."""
    values = [max(0.0, float(v)) for v in values] or [0.0]
    peak = top if top is not None else max(values)
    peak = peak if peak > 0 else 1.0
    points = _points(values, width, height, peak)
    if len(points) == 1:
        points.append(points[0].replace(f"{PAD:.1f},", f"{width - PAD:.1f},", 1))
    base = height - PAD
    area = (
        f"{points[0].split(',')[0]},{base} "
        + " ".join(points)
        + f" {points[-1].split(',')[0]},{base}"
    )
    return Markup(
        '<svg class="spark {css}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        'aria-label="{label}"><title>{label}</title>'
        '<polygon class="area" points="{area}"/><polyline points="{line}"/></svg>'
    ).format(
        css=css,
        w=width,
        h=height,
        label=label,
        area=area,
        line=" ".join(points),
    )


def score_chart(points: Sequence[tuple[str, float]], *, label: str) -> Markup:
    """The score at each verdict change (``(when, score)`` oldest first), as a line 0..1;
    nothing for fewer than two points (one is a dot, said better in words)."""
    if len(points) < 2:
        return Markup("")
    return sparkline([score for _, score in points], label=label, width=240, height=48, top=1.0)


def percent(value: float) -> str:
    """A share as a whole percentage ("12 %"), "<1 %" for a small non-zero one (no line break
    inside: the space is a no-break space)."""
    if 0 < value < 0.005:
        return f"<1{NBSP}%"
    return f"{value * 100:.0f}{NBSP}%"


def duration(seconds: float) -> str:
    """Seconds as "850 ms", "12.3 s", "4 min 10 s" or "2 h 5 min"."""
    if seconds < 1:
        text = f"{seconds * 1000:.0f} ms"
    elif seconds < 60:
        text = f"{seconds:.1f} s"
    else:
        minutes, rest = divmod(round(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        text = f"{hours} h {minutes} min" if hours else f"{minutes} min {rest} s"
    return text.replace(" ", NBSP)


__all__ = ["duration", "percent", "score_chart", "sparkline"]
