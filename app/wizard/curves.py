"""Live training curves for the training wizard (plain ``QPainter``, no chart library)."""

from __future__ import annotations

import math
from typing import ClassVar

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget


class CurveWidget(QWidget):
    """Live curves (loss, accuracy, learning rate), each scaled to its own range."""

    COLOURS: ClassVar[dict[str, QColor]] = {
        "loss": QColor(220, 60, 60),
        "accuracy": QColor(40, 160, 80),
        "lr": QColor(60, 110, 220),
    }

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(160)
        self.setAccessibleName("Training curves")
        self.series: dict[str, list[float]] = {k: [] for k in self.COLOURS}

    def add(self, event: dict) -> None:
        for k in self.series:
            v = event.get(k)
            if isinstance(v, (int, float)) and math.isfinite(v):
                self.series[k].append(float(v))
        self.update()

    def paintEvent(self, _e) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.rect().adjusted(8, 8, -8, -20)
        p.drawRect(r)
        x = 12
        for name, colour in self.COLOURS.items():
            p.setPen(colour)
            p.drawText(x, self.height() - 5, name)
            x += 80
            ys = self.series[name]
            if len(ys) < 2:
                continue
            lo, hi = min(ys), max(ys)
            span = (hi - lo) or 1.0
            pts = [
                QPointF(
                    r.left() + r.width() * i / (len(ys) - 1),
                    r.bottom() - r.height() * (v - lo) / span,
                )
                for i, v in enumerate(ys)
            ]
            p.setPen(QPen(colour, 1.5))
            p.drawPolyline(pts)
