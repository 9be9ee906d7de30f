"""What the diagram scripts share: estimated text boxes, SVG primitives, and the layout check.

Standard library only. Every text gets an estimated box (generous character
widths, so that the widest common sans-serif font still fits); :func:`finish`
refuses a drawing in which two texts overlap or a text leaves the canvas, and
the scripts add their own problems (a label wider than its arrow...) to
:attr:`Diagram.problems`.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

FONT = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"
INK = "#1f2328"


def text_width(text: str, size: int, bold: bool = False) -> float:
    """A generous estimate: 0.62 em per character (0.68 bold), wide enough for DejaVu Sans."""
    return len(text) * size * (0.68 if bold else 0.62)


@dataclass
class Box:
    what: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1


class Diagram:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.texts: list[Box] = []
        self.problems: list[str] = []

    def text(self, x: float, y: float, value: str, size: int, *, anchor: str = "middle", **style: str) -> Box:
        """Draw ``value`` with its baseline at ``y``; return (and remember) its estimated box."""
        bold = style.get("font-weight") == "bold"
        width = text_width(value, size, bold)
        x0 = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
        box = Box(value, x0, y - size * 0.8, x0 + width, y + size * 0.22)
        self.texts.append(box)
        attributes = "".join(f' {k}="{v}"' for k, v in style.items())
        self.parts.append(
            f'<text x="{x:g}" y="{y:g}" font-size="{size}" text-anchor="{anchor}"{attributes}>{escape(value)}</text>'
        )
        return box

    def rect(self, x: float, y: float, w: float, h: float, fill: str, stroke: str = "none", **extra: str) -> None:
        attributes = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in extra.items())
        self.parts.append(
            f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" fill="{fill}" stroke="{stroke}"{attributes}/>'
        )

    def line(self, x0: float, y0: float, x1: float, y1: float, color: str, dashed: bool = False) -> None:
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        self.parts.append(
            f'<line x1="{x0:g}" y1="{y0:g}" x2="{x1:g}" y2="{y1:g}" stroke="{color}" stroke-width="1.4"{dash}/>'
        )

    def arrowhead(self, x: float, y: float, direction: int) -> None:
        """A head pointing right (``direction`` 1) or left (-1) at ``(x, y)``."""
        back = x - 9 * direction
        self.parts.append(f'<polygon points="{x:g},{y:g} {back:g},{y - 4.5:g} {back:g},{y + 4.5:g}" fill="{INK}"/>')

    def arrowhead_down(self, x: float, y: float) -> None:
        """A head pointing down at ``(x, y)``."""
        self.parts.append(f'<polygon points="{x:g},{y:g} {x - 4.5:g},{y - 9:g} {x + 4.5:g},{y - 9:g}" fill="{INK}"/>')

    def finish(self, width: float, height: float, title: str) -> str:
        """The SVG document; raises ``ValueError`` listing every layout problem instead."""
        for i, a in enumerate(self.texts):
            if a.x0 < 0 or a.x1 > width or a.y0 < 0 or a.y1 > height:
                self.problems.append(f"text {a.what!r} leaves the canvas")
            for b in self.texts[i + 1 :]:
                if a.overlaps(b):
                    self.problems.append(f"texts {a.what!r} and {b.what!r} overlap")
        if self.problems:
            raise ValueError("the diagram's layout is broken:\n" + "\n".join(self.problems))
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:g}" height="{height:g}" '
            f'viewBox="0 0 {width:g} {height:g}" font-family="{FONT}" role="img" '
            'aria-labelledby="title">\n'
            f'<title id="title">{escape(title)}</title>\n'
            f'<rect width="{width:g}" height="{height:g}" fill="#ffffff"/>\n'
        )
        return head + "\n".join(self.parts) + "\n</svg>\n"
