"""A small line chart of members per marketing segment over time, drawn as SVG on the server."""

from collections.abc import Sequence
from datetime import datetime
from html import escape

WIDTH, HEIGHT, PAD = 480, 160, 28
COLOURS = ("#1f5fa8", "#b04a00", "#2e7d32", "#6a1b9a", "#00695c")


def members_chart(points: Sequence[tuple[datetime, dict[str, int]]], title: str) -> str:
    """``points``: (when, purpose → members) oldest first. An empty chart says so in words."""
    if not points:
        return ""
    purposes = sorted({p for _, counts in points for p in counts})
    top = max([1] + [v for _, counts in points for v in counts.values()])
    step = (WIDTH - 2 * PAD) / max(1, len(points) - 1)

    def y(value: int) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#555"/>',
        f'<text x="{PAD}" y="{PAD - 10}" font-size="11" fill="#222">{top}</text>',
    ]
    for index, purpose in enumerate(purposes):
        colour = COLOURS[index % len(COLOURS)]
        xy = " ".join(f"{PAD + i * step:.1f},{y(c.get(purpose, 0)):.1f}" for i, (_, c) in enumerate(points))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{xy}"/>')
        parts.extend(
            f'<circle cx="{PAD + i * step:.1f}" cy="{y(c.get(purpose, 0)):.1f}" r="3" fill="{colour}"/>'
            for i, (_, c) in enumerate(points)
        )
        parts.append(
            f'<text x="{WIDTH - PAD - 110}" y="{PAD + 12 * index}" font-size="11" fill="{colour}">'
            f"{escape(purpose)}: {points[-1][1].get(purpose, 0)}</text>"
        )
    first, last = points[0][0], points[-1][0]
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10" fill="#222">{first:%Y-%m-%d}</text>')
    parts.append(
        f'<text x="{WIDTH - PAD - 60}" y="{HEIGHT - 8}" font-size="10" fill="#222">{last:%Y-%m-%d}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
