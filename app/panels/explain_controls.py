"""Why the results match: attention heatmaps (toggle and opacity) and, after a click on the
query, the clicked object outlined in the top results.

Both run on this panel's task, model loading included; a new search cancels them. What they
find goes out as signals the window connects to the search panel.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QSlider, QWidget

from ..state import AppState
from ..views import rgba_to_qimage
from ..workers import TaskSlot, Worker

#: results that get outlines / heatmaps after a click or the heatmap toggle
EXPLAIN_TOP = 24
#: long side of the query's heatmap (it is drawn scaled over the photo)
QUERY_HEAT_SIDE = 1024


class ExplainControls(QWidget):
    heat_opacity_changed = Signal(object)  # float, or None when heatmaps are off
    query_heat_ready = Signal(object)  # QImage over the query (its box when there is one)
    result_heats_ready = Signal(list)  # [(path, QImage)]
    outlines_cleared = Signal()
    outlines_ready = Signal(list)  # [(path, (box, (W, H)))]
    status = Signal(str)
    heatmaps_finished = Signal()
    outlines_finished = Signal(object)  # [(Hit, Localization or error message)]
    error = Signal(str, str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.task = TaskSlot(self)
        self.query: str | None = None
        self.box = None
        self.result = None
        self._heated: set[str] = set()  # results of ``result`` that have their heatmap
        self._localizer = None  # (model spec, Localizer), made on a worker
        self._generation = 0
        self._lock = threading.Lock()
        self.heat_toggle = QCheckBox("Heatmap")
        self.heat_toggle.setAccessibleName("Show attention heatmaps")
        self.heat_toggle.setToolTip("Where the model looked (Ctrl+H)")
        self.heat_toggle.toggled.connect(self._heat_toggled)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setAccessibleName("Heatmap opacity")
        self.opacity.valueChanged.connect(self._opacity_changed)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.heat_toggle)
        lay.addWidget(self.opacity)

    def heat_opacity(self) -> float | None:
        return self.opacity.value() / 100 if self.heat_toggle.isChecked() else None

    # ---------------------------------------------------------------- wiring

    def set_result(self, result, query: str | None, box) -> None:
        """A new search result to explain; heatmaps follow at once when they are on."""
        self.result, self.query, self.box = result, query, box
        self._heated = set()
        if result is not None and self.heat_toggle.isChecked():
            self.show_heatmaps()

    def cancel(self) -> None:
        """A new search is coming: what was being explained is gone."""
        self.task.cancel()
        self.result = None

    def reset_model(self) -> None:
        """The model or device changed: the next explanation loads it afresh."""
        with self._lock:
            self._localizer = None
            self._generation += 1

    def _localizer_for(self, spec: str | None):
        """The localizer of ``spec``, built on first use (worker threads)."""
        from engine.localize import Localizer

        with self._lock:
            cached, generation = self._localizer, self._generation
        if cached is not None and cached[0] == spec:
            return cached[1]
        loc = Localizer(self.state.library.model(spec)[0])
        with self._lock:
            if generation == self._generation:
                self._localizer = (spec, loc)
        return loc

    # ---------------------------------------------------------------- heatmaps

    def _opacity_changed(self) -> None:
        self.heat_opacity_changed.emit(self.heat_opacity())

    def _heat_toggled(self, on: bool) -> None:
        if not on:
            self.task.cancel()
        self.heat_opacity_changed.emit(self.heat_opacity())
        if on:
            self.show_heatmaps()

    def show_heatmaps(self) -> None:
        """The query's heatmap from the search, the top results' computed off the GUI thread."""
        from engine.localize import explain, heatmap, overlay

        res, spec, library = self.result, self.state.model_spec, self.state.library
        if res is None:
            return
        box = res.box
        size = (box[2] - box[0], box[3] - box[1]) if box else res.original_size
        s = min(1.0, QUERY_HEAT_SIDE / max(size))
        size = (max(1, round(size[0] * s)), max(1, round(size[1] * s)))
        paths = [h.path for h in res.hits[:EXPLAIN_TOP] if h.path not in self._heated]

        def compute(progress, should_stop):
            query = overlay(heatmap(res.attention, size), 1.0)
            ex = library.model(spec)[0]  # loads the model here, not on the GUI thread
            out = []
            for i, p in enumerate(paths):
                if should_stop():
                    break
                try:
                    out.append((p, explain(ex, p, opacity=1.0, max_side=320).rgba))
                except Exception:  # an unreadable result simply gets no heatmap
                    continue
                progress(i + 1, len(paths), "heatmaps")
            return query, out

        w = Worker(compute)
        w.signals.result.connect(self._on_heatmaps)
        w.signals.error.connect(self.error)
        self.task.start(w)

    def _on_heatmaps(self, out) -> None:
        query, items = out
        self._heated.update(p for p, _ in items)
        self.query_heat_ready.emit(rgba_to_qimage(query))
        self.result_heats_ready.emit([(p, rgba_to_qimage(rgba)) for p, rgba in items])
        self.heatmaps_finished.emit()

    # ---------------------------------------------------------------- outlines

    def outline_click(self, point) -> None:
        """Outline the clicked object of the query in the top results."""
        res, query, box, spec = self.result, self.query, self.box, self.state.model_spec
        if res is None or not query:
            return
        hits = res.hits[:EXPLAIN_TOP]
        self.outlines_cleared.emit()

        def compute(progress, should_stop):
            loc = self._localizer_for(spec)
            out = []
            for i, h in enumerate(hits):
                if should_stop():
                    break
                try:
                    out.append((h, loc.localize(query, h.path, point=point, box=box)))
                except Exception as e:
                    out.append((h, str(e)))
                progress(i + 1, len(hits), "outlining")
            return out

        w = Worker(compute)
        w.signals.progress.connect(
            lambda d, t, m: self.status.emit(f"outlining the object: {d}/{t}")
        )
        w.signals.result.connect(self._on_outlines)
        w.signals.error.connect(self.error)
        self.task.start(w)

    def _on_outlines(self, items) -> None:
        self.outlines_ready.emit(
            [
                (h.path, (found.box, (h.width, h.height)))
                for h, found in items
                if not isinstance(found, str) and h.width
            ]
        )
        self.status.emit(f"outlined the object in {len(items)} results")
        self.outlines_finished.emit(items)

    def shutdown(self) -> None:
        self.task.wait()
