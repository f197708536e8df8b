"""Pictures of diagrams: a two-row ASCII form and a matplotlib drawing (optional dependency)."""

from __future__ import annotations

import itertools
import os
import string
from typing import TYPE_CHECKING

from .diagram import Diagram
from .product import ProductDiagram

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

__all__ = ["draw", "draw_ascii"]


def _check_diagram(d: object) -> None:
    if not isinstance(d, Diagram):
        raise TypeError(f"expected a diagram, got {type(d).__name__}")


def _letters(count: int) -> list[str]:
    alphabet = string.ascii_lowercase
    names = list(alphabet)
    while len(names) < count:
        names += [a + b for a in alphabet for b in alphabet]
    return names[:count]


def draw_ascii(d: Diagram | ProductDiagram) -> str:
    """Top row over bottom row; each vertex shows the letter of its block (a product diagram:
    its factors side by side)."""
    if isinstance(d, ProductDiagram):
        return d.draw_ascii()
    _check_diagram(d)
    names = _letters(len(d.blocks))
    top = " ".join(names[d.labels[v]] for v in range(d.cod))
    bottom = " ".join(names[d.labels[v]] for v in range(d.cod, d.size))
    legend = " ".join(names[i] + "={" + ",".join(d.vertex_name(v) for v in b) + "}" for i, b in enumerate(d.blocks))
    return f"top    : {top}\nbottom : {bottom}\nblocks : {legend}".rstrip()


def draw(
    d: Diagram | ProductDiagram, path: str | os.PathLike[str] | None = None, ax: Axes | None = None
) -> Figure | SubFigure:
    """Draw ``d`` with matplotlib: vertices as dots on two rows, each block as curves joining
    consecutive vertices of the block (arcs within a row, straight lines between rows).
    Saves to ``path`` (format from its suffix, e.g. ``.png`` or ``.svg``) when given and
    returns the figure. A product diagram is drawn as one panel per factor (no ``ax``)."""
    if isinstance(d, ProductDiagram):
        if ax is not None:
            raise ValueError("a product diagram draws one panel per factor in a figure of its own: pass no ax")
        return d.draw(path)
    _check_diagram(d)
    try:
        import matplotlib

        if ax is None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        from matplotlib.patches import Arc
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("drawing needs matplotlib: pip install 'catlayer[draw]'") from error

    width = max(d.cod, d.dom, 1)
    fig: Figure | SubFigure
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.8 * width, 2.4))
    else:
        fig = ax.figure

    def point(v: int) -> tuple[float, float]:
        return (float(v), 1.0) if v < d.cod else (float(v - d.cod), 0.0)

    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, block in enumerate(d.blocks):
        colour = colours[index % len(colours)]
        top = [v for v in block if v < d.cod]
        bottom = [v for v in block if v >= d.cod]
        for row in (top, bottom):
            for a, b in itertools.pairwise(row):
                (xa, y), (xb, _) = point(a), point(b)
                height = 0.5 * min(1.0, 0.35 * (xb - xa))
                centre_y = y
                theta = (180, 360) if y == 1.0 else (0, 180)
                ax.add_patch(
                    Arc(
                        ((xa + xb) / 2, centre_y),
                        xb - xa,
                        2 * height,
                        theta1=theta[0],
                        theta2=theta[1],
                        color=colour,
                        lw=2,
                    )
                )
        if top and bottom:
            (xa, ya), (xb, yb) = point(top[0]), point(bottom[0])
            ax.plot([xa, xb], [ya, yb], color=colour, lw=2)
        for v in block:
            x, y = point(v)
            ax.plot(x, y, "o", color="black", ms=6, zorder=3)
            ax.annotate(
                d.vertex_name(v),
                (x, y),
                textcoords="offset points",
                xytext=(0, 8 if y == 1.0 else -14),
                ha="center",
                fontsize=9,
            )
    ax.set_xlim(-0.6, width - 0.4)
    ax.set_ylim(-0.45, 1.45)
    ax.set_aspect("auto")
    ax.axis("off")
    ax.set_title(str(d), fontsize=9)
    if path is not None:
        # ``figure`` is the root figure (the figure itself, or the one holding a subfigure): only
        # it can be saved.
        fig.figure.savefig(path, bbox_inches="tight")
    return fig
