"""Painted widgets: the query viewer (box drawing, clicks, heatmap), the result delegate and
the lines between matching points of two photos."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QWidget

from app.models import (
    EvidenceRole,
    HeaderRole,
    HeatRole,
    NotFoundRole,
    OutlineNoteRole,
    OutlineRole,
    PathRole,
)

OUTLINE = QColor(40, 255, 120)
#: a result's mark where the clicked object is not outlined (the reason is in its tooltip)
NOT_FOUND_TAG = "not found in this photo"


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """``(H, W, 4) uint8`` → an owned ``QImage``."""
    a = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def fit_rect(image_size: QSize, area: QRect) -> QRectF:
    """Where an image of ``image_size`` is drawn inside ``area``, aspect kept, centred."""
    if image_size.isEmpty():
        return QRectF(area)
    s = min(area.width() / image_size.width(), area.height() / image_size.height())
    w, h = image_size.width() * s, image_size.height() * s
    return QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)


def outline_polygon(points, size: tuple[float, float], r: QRectF) -> QPolygonF:
    """An outline in photo pixels (``points`` ``[[x, y], ...]`` of a ``size`` (W, H) photo)
    where the photo is drawn, in ``r`` (scaled, letterboxed: ``fit_rect``)."""
    w, h = size
    sx, sy = r.width() / w, r.height() / h
    return QPolygonF([QPointF(r.x() + x * sx, r.y() + y * sy) for x, y in points])


def draw_outline(painter: QPainter, poly: QPolygonF, clip: QRectF) -> None:
    """An outline, kept inside the photo's ``clip``: a dark halo under the green line, so it
    shows on bright and on green photos alike."""
    painter.save()
    painter.setClipRect(clip)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(QColor(0, 0, 0, 160), 4))
    painter.drawPolygon(poly)
    painter.setPen(QPen(OUTLINE, 2))
    painter.drawPolygon(poly)
    painter.restore()


class QueryView(QWidget):
    """The query photo. Drag to draw a box (``box_drawn`` in photo pixels), click to pick a
    point (``point_clicked``); an optional heatmap is blended in over the box region.

    Photo pixels are those of the upright full-resolution photo (``photo_size``), whatever the
    size of the decoded pixmap shown (``app.photo_loader`` decodes it, EXIF orientation applied)."""

    box_drawn = Signal(tuple)
    point_clicked = Signal(tuple)

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(240, 180)
        self.setAccessibleName("Query photo")
        self.setToolTip("Drag to search a region; click to outline that object in the results")
        self.image: QPixmap | None = None
        self.photo_size = QSize()
        self.heat: QImage | None = None
        self.opacity = 0.5
        self.box: tuple[float, float, float, float] | None = None
        self.point: tuple[float, float] | None = None
        #: an outline over the photo: ``[[x, y], ...]`` in photo pixels (a result's object)
        self.outline: list | None = None
        self._drag_from: QPointF | None = None
        self._drag_to: QPointF | None = None

    def set_photo(self, image: QPixmap | None, size: tuple[int, int] | None = None) -> None:
        """Show ``image``, the upright photo of full-resolution ``size`` (W, H), scaled."""
        self.image, self.heat, self.box, self.point = image, None, None, None
        if image is None:
            self.photo_size = QSize()
        else:
            self.photo_size = QSize(*size) if size else image.size()
        self.update()

    def set_box(self, box: tuple[float, float, float, float] | None) -> None:
        """Show ``box`` (photo pixels) as the searched region, or none."""
        self.box, self.point, self.heat = box, None, None
        self.update()

    def clear_box(self) -> None:
        self.set_box(None)

    def set_heatmap(self, heat: QImage | None, opacity: float | None = None) -> None:
        self.heat = heat
        if opacity is not None:
            self.opacity = opacity
        self.update()

    def set_outline(self, points: list | None) -> None:
        """Draw ``points`` (photo pixels) as an outline over the photo, or none."""
        self.outline = points
        self.update()

    def image_rect(self) -> QRectF:
        return fit_rect(self.photo_size, self.rect())

    def to_image(self, p: QPointF, clamp: bool = True) -> tuple[float, float]:
        """Widget → photo pixels; ``clamp=False`` keeps a point outside the photo outside (a
        click beside the photo is answered, not moved onto its edge)."""
        r = self.image_rect()
        w, h = self.photo_size.width(), self.photo_size.height()
        s = w / r.width()
        x, y = (p.x() - r.x()) * s, (p.y() - r.y()) * s
        if clamp:
            x, y = min(max(x, 0.0), float(w)), min(max(y, 0.0), float(h))
        return x, y

    def to_widget(self, x: float, y: float) -> QPointF:
        r = self.image_rect()
        s = r.width() / self.photo_size.width()
        return QPointF(r.x() + x * s, r.y() + y * s)

    def mousePressEvent(self, e) -> None:
        if self.image is not None and e.button() == Qt.MouseButton.LeftButton:
            self._drag_from = self._drag_to = e.position()

    def mouseMoveEvent(self, e) -> None:
        if self._drag_from is not None:
            self._drag_to = e.position()
            self.update()

    def mouseReleaseEvent(self, e) -> None:
        if self._drag_from is None:
            return
        a, b = self._drag_from, e.position()
        self._drag_from = self._drag_to = None
        if (a - b).manhattanLength() < 6:
            self.point = self.to_image(b, clamp=False)
            self.update()
            self.point_clicked.emit(self.point)
            return
        (x0, y0), (x1, y1) = self.to_image(a), self.to_image(b)
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if box[2] - box[0] >= 4 and box[3] - box[1] >= 4:
            self.box, self.point, self.heat = box, None, None
            self.update()
            self.box_drawn.emit(box)

    def paintEvent(self, _e) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if self.image is None:
            p.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter,
                "Drop a photo here, paste one (Ctrl+V) or open one (Ctrl+O)",
            )
            return
        r = self.image_rect()
        p.drawPixmap(r, self.image, QRectF(self.image.rect()))
        if self.heat is not None:
            target = r
            if self.box is not None:
                tl, br = self.to_widget(*self.box[:2]), self.to_widget(*self.box[2:])
                target = QRectF(tl, br)
            p.setOpacity(self.opacity)
            p.drawImage(target, self.heat)
            p.setOpacity(1.0)
        if self.outline:
            w, h = self.photo_size.width(), self.photo_size.height()
            draw_outline(p, outline_polygon(self.outline, (w, h), r), r)
        pen = QPen(OUTLINE, 2)
        p.setPen(pen)
        if self.box is not None:
            p.drawRect(QRectF(self.to_widget(*self.box[:2]), self.to_widget(*self.box[2:])))
        if self._drag_from is not None and self._drag_to is not None:
            p.drawRect(QRectF(self._drag_from, self._drag_to).normalized())
        if self.point is not None:
            c = self.to_widget(*self.point)
            p.setPen(QPen(Qt.GlobalColor.white, 2))
            p.drawEllipse(c, 7, 7)


class ResultDelegate(QStyledItemDelegate):
    """Thumbnail, optional heatmap, outline, evidence badge, an "outline 0.82" or "not found in
    this photo" mark, then the caption; a header row is a full-width line of text."""

    SIZE = QSize(180, 170)
    HEADER_HEIGHT = 30

    def __init__(self, opacity_source, parent=None, width_source=None) -> None:
        super().__init__(parent)
        self.opacity_source = opacity_source  # callable → float, None when heatmaps are off
        self.width_source = width_source  # callable → the view's usable width (header rows)

    def paint(self, painter: QPainter, option, index) -> None:
        header = index.data(HeaderRole)
        if header is not None:
            self._paint_header(painter, option.rect, header, option.palette)
            return
        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pm, QPixmap) and not pm.isNull():
            r = self.thumbnail_rect(option.rect, pm)
            painter.drawPixmap(r, pm, QRectF(pm.rect()))
            opacity = self.opacity_source()
            heat = index.data(HeatRole)
            if opacity is not None and isinstance(heat, QImage):
                painter.setOpacity(opacity)
                painter.drawImage(r, heat)
                painter.setOpacity(1.0)
            poly = self.outline_in(index, r)
            if poly is not None:
                draw_outline(painter, poly, r)
            evidence = index.data(EvidenceRole)
            if evidence:
                short = evidence.replace("matching points", "points")
                _tag(painter, r, short, QColor(20, 120, 60), True, QRectF(option.rect))
            note = index.data(OutlineNoteRole)
            if index.data(NotFoundRole):
                _tag(painter, r, NOT_FOUND_TAG, QColor(60, 60, 60), False, QRectF(option.rect))
            elif note:
                _tag(painter, r, note, QColor(20, 120, 60), False, QRectF(option.rect))
        painter.setPen(option.palette.text().color())
        text_rect = option.rect.adjusted(4, option.rect.height() - 34, -4, -2)
        caption = index.data(Qt.ItemDataRole.DisplayRole) or ""
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignHCenter,
            elide_lines(caption, painter.fontMetrics(), text_rect.width()),
        )
        painter.restore()

    @staticmethod
    def _paint_header(painter: QPainter, rect: QRect, text: str, palette) -> None:
        painter.save()
        font = painter.font()
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(palette.text().color())
        box = rect.adjusted(4, 0, -4, 0)
        painter.drawText(box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        used = painter.fontMetrics().horizontalAdvance(text) + 12
        painter.setPen(QPen(palette.mid().color(), 1))
        y = rect.center().y()
        if box.left() + used < box.right():
            painter.drawLine(box.left() + used, y, box.right(), y)
        painter.restore()

    @staticmethod
    def thumbnail_rect(option_rect: QRect, pixmap: QPixmap) -> QRectF:
        """Where a result's thumbnail is drawn in its item's rect."""
        return fit_rect(pixmap.size(), option_rect.adjusted(6, 6, -6, -36))

    @staticmethod
    def outline_in(index, r: QRectF) -> QPolygonF | None:
        """The result's outline (``OutlineRole``) where its thumbnail is drawn, in ``r``."""
        outline = index.data(OutlineRole)  # (polygon in photo pixels, photo size)
        if outline is None:
            return None
        points, size = outline
        return outline_polygon(points, size, r)

    def sizeHint(self, option, index) -> QSize:
        if index.data(HeaderRole) is not None:
            width = self.width_source() if self.width_source else self.SIZE.width()
            return QSize(max(width, self.SIZE.width()), self.HEADER_HEIGHT)
        return self.SIZE

    @staticmethod
    def path(index) -> str:
        return index.data(PathRole)


def elide_lines(text: str, fm, width: int) -> str:
    """Each line of ``text`` fitted to ``width`` pixels, elided in the middle (a file name
    keeps its start and its end; the tooltip has it whole)."""
    return "\n".join(
        fm.elidedText(line, Qt.TextElideMode.ElideMiddle, int(width)) for line in text.split("\n")
    )


def tag_rect(
    r: QRectF, text: str, fm, top: bool, bounds: QRectF | None = None
) -> tuple[QRectF, str]:
    """Where a label goes on a thumbnail drawn in ``r`` (top-left or bottom-left corner) and
    its text, elided only when it is wider than ``bounds`` (the item's cell): on a narrow,
    portrait thumbnail the label reaches past the photo's edge rather than lose its words."""
    area = bounds if bounds is not None else r
    text = fm.elidedText(text, Qt.TextElideMode.ElideRight, int(max(area.width() - 14, 24)))
    w, h = fm.horizontalAdvance(text) + 8, fm.height() + 2
    y = r.y() + 3 if top else r.bottom() - h - 3
    x = max(area.left() + 3, min(r.x() + 3, area.right() - 3 - w))
    return QRectF(x, y, w, h), text


def _tag(
    painter: QPainter,
    r: QRectF,
    text: str,
    colour: QColor,
    top: bool,
    bounds: QRectF | None = None,
) -> None:
    """A small label on a thumbnail's top-left (or bottom-left) corner (see ``tag_rect``)."""
    painter.save()
    font = painter.font()
    font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
    painter.setFont(font)
    tag, text = tag_rect(r, text, painter.fontMetrics(), top, bounds)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.setOpacity(0.85)
    painter.drawRoundedRect(tag, 4, 4)
    painter.setOpacity(1.0)
    painter.setPen(Qt.GlobalColor.white)
    painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()


class MatchLines(QWidget):
    """Lines between matching points of two photos shown side by side (two ``QueryView``),
    drawn over both; it lets every mouse event through."""

    #: at most this many lines (evenly picked): beyond that they hide the photos
    MAX_LINES = 300

    def __init__(self, left: QueryView, right: QueryView, parent: QWidget) -> None:
        super().__init__(parent)
        self.left, self.right = left, right
        self.pairs: list[tuple[tuple[float, float], tuple[float, float]]] = []
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        parent.installEventFilter(self)

    def set_pairs(self, q_xy, p_xy) -> None:
        """Inlier correspondences: ``q_xy (n, 2)`` in the left photo, ``p_xy (n, 2)`` in the
        right one (original pixels)."""
        n = len(q_xy)
        step = max(1, -(-n // self.MAX_LINES))
        self.pairs = [(tuple(q_xy[i]), tuple(p_xy[i])) for i in range(0, n, step)]
        self.update()

    def eventFilter(self, obj, event) -> bool:
        if obj is self.parent() and event.type() == QEvent.Type.Resize:
            self.setGeometry(self.parent().rect())
            self.raise_()
        return False

    def _point(self, view: QueryView, xy) -> QPointF:
        return QPointF(view.mapTo(self.parent(), view.to_widget(*xy).toPoint()))

    def paintEvent(self, _e) -> None:
        if not self.pairs or self.left.photo_size.isEmpty() or self.right.photo_size.isEmpty():
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        for i, (a, b) in enumerate(self.pairs):
            colour = QColor.fromHsv((i * 47) % 360, 200, 255, 200)
            pa, pb = self._point(self.left, a), self._point(self.right, b)
            p.setPen(QPen(colour, 1.2))
            p.drawLine(pa, pb)
            p.drawEllipse(pa, 2.5, 2.5)
            p.drawEllipse(pb, 2.5, 2.5)
