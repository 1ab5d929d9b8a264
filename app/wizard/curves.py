"""Live training curves for the training wizard (plain ``QPainter``, no chart library).

Three plots one above the other, sharing the x axis (optimizer steps of the run): the loss,
the batch accuracy (%) and the learning rate, each with its own y axis, ticks and unit.
"""

from __future__ import annotations

import math
from typing import ClassVar

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget


def ticks(lo: float, hi: float, n: int = 3) -> list[float]:
    """``n`` evenly spaced values from ``lo`` to ``hi`` (one value when they are equal)."""
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def tick_text(v: float, name: str) -> str:
    if name == "accuracy":
        return f"{100 * v:.0f}%"
    if name == "lr":
        return f"{v:.0e}" if v else "0"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"


class CurveWidget(QWidget):
    """Live curves (loss, accuracy, learning rate) with axes: x is the optimizer step."""

    COLOURS: ClassVar[dict[str, QColor]] = {
        "loss": QColor(220, 60, 60),
        "accuracy": QColor(40, 160, 80),
        "lr": QColor(60, 110, 220),
    }
    #: each plot's title, with its unit
    TITLES: ClassVar[dict[str, str]] = {
        "loss": "loss (no unit)",
        "accuracy": "batch accuracy (%)",
        "lr": "learning rate",
    }
    X_TITLE = "optimizer step"

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(240)
        self.setAccessibleName("Training curves")
        self.series: dict[str, list[float]] = {k: [] for k in self.COLOURS}
        self.steps: dict[str, list[int]] = {k: [] for k in self.COLOURS}

    def add(self, event: dict) -> None:
        """A step record (``epoch``, ``step``, ``steps`` place it on the x axis)."""
        x = int(event.get("epoch", 0)) * int(event.get("steps", 0)) + int(event.get("step", 0)) + 1
        for k in self.series:
            v = event.get(k)
            if isinstance(v, (int, float)) and math.isfinite(v):
                self.series[k].append(float(v))
                self.steps[k].append(x)
        self.update()

    def clear(self) -> None:
        for k in self.series:
            self.series[k].clear()
            self.steps[k].clear()
        self.update()

    def x_range(self) -> tuple[int, int]:
        xs = [x for s in self.steps.values() for x in s]
        return (min(xs), max(xs)) if xs else (0, 1)

    def paintEvent(self, _e) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = p.fontMetrics()
        left = fm.horizontalAdvance("0.0e-00") + 10
        bottom = 2 * fm.height() + 8
        area = QRectF(self.rect()).adjusted(left, 4, -12, -bottom)
        names = list(self.COLOURS)
        gap = fm.height() + 6
        h = (area.height() - gap * (len(names) - 1)) / len(names)
        x0, x1 = self.x_range()
        span_x = (x1 - x0) or 1
        for i, name in enumerate(names):
            r = QRectF(area.left(), area.top() + i * (h + gap) + fm.height(), area.width(), h)
            r.setHeight(max(4.0, h - fm.height()))
            self._plot(p, r, name, x0, span_x)
        # the shared x axis, under the last plot
        y = area.bottom() + 2
        p.setPen(self.palette().text().color())
        for v in ticks(x0, x1):
            x = area.left() + area.width() * (v - x0) / span_x
            p.drawLine(QPointF(x, y), QPointF(x, y + 4))
            p.drawText(
                QRectF(x - 30, y + 4, 60, fm.height()), Qt.AlignmentFlag.AlignHCenter, f"{v:.0f}"
            )
        p.drawText(
            QRectF(area.left(), y + 4 + fm.height(), area.width(), fm.height()),
            Qt.AlignmentFlag.AlignHCenter,
            self.X_TITLE,
        )

    def _plot(self, p: QPainter, r: QRectF, name: str, x0: int, span_x: float) -> None:
        fm = p.fontMetrics()
        text = self.palette().text().color()
        colour = self.COLOURS[name]
        p.setPen(colour)
        p.drawText(
            QRectF(r.left(), r.top() - fm.height(), r.width(), fm.height()),
            Qt.AlignmentFlag.AlignLeft,
            self.TITLES[name],
        )
        p.setPen(QColor(text.red(), text.green(), text.blue(), 110))
        p.drawRect(r)
        ys, xs = self.series[name], self.steps[name]
        if not ys:
            return
        lo, hi = min(ys), max(ys)
        if name == "accuracy":
            lo, hi = 0.0, 1.0
        span = (hi - lo) or 1.0
        p.setPen(text)
        for v in ticks(lo, hi):
            y = r.bottom() - r.height() * (v - lo) / span
            p.drawLine(QPointF(r.left() - 4, y), QPointF(r.left(), y))
            p.drawText(
                QRectF(0, y - fm.height() / 2, r.left() - 6, fm.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                tick_text(v, name),
            )
        pts = [
            QPointF(
                r.left() + r.width() * (x - x0) / span_x,
                r.bottom() - r.height() * (v - lo) / span,
            )
            for x, v in zip(xs, ys, strict=True)
        ]
        p.setPen(QPen(colour, 1.5))
        if len(pts) == 1:
            p.drawEllipse(pts[0], 2.5, 2.5)
        else:
            p.drawPolyline(pts)
