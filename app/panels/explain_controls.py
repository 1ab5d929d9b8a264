"""Why the results match: heatmaps of where the network looked or of where the verified matches
are (a choice, a toggle and an opacity), and, after a click on the query, the clicked object
outlined in the results where it is found — by the verified geometry, or inside a verified
match by the network's features — and marked "not found here" elsewhere.

All of it runs on this panel's task; a new search cancels it. What it finds goes out as
signals the window connects to the search panel.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QSlider, QWidget

from app.state import AppState
from app.views import rgba_to_qimage
from app.workers import TaskSlot, Worker

#: results that get attention heatmaps
EXPLAIN_TOP = 24
#: results a click is looked for in (the grid shows the verified ones and a handful of others)
LOCATE_TOP = 64
#: results located per step (progress and cancel between steps)
LOCATE_STEP = 8
#: long side of the query's heatmap (it is drawn scaled over the photo) and of a result's
QUERY_HEAT_SIDE = 1024
RESULT_HEAT_SIDE = 320
#: what the heatmap shows: (key, label)
HEAT_MODES = (("attention", "Network attention"), ("matched", "Where it matched"))
NOTHING_SHARED = "nothing outlined: the click landed on nothing the results share"


def shown_hits(res) -> list:
    """The hits the grid shows (``SearchResult.shown``: the verified matches and a handful of
    the others), the first ``LOCATE_TOP`` of them."""
    verified, others = res.shown()
    return (verified + others)[:LOCATE_TOP]


class ExplainControls(QWidget):
    heat_opacity_changed = Signal(object)  # float, or None when heatmaps are off
    query_heat_ready = Signal(object)  # QImage over the query (its box when there is one)
    result_heats_ready = Signal(list)  # [(path, QImage or None)]
    outlines_cleared = Signal()
    outlines_ready = Signal(list)  # [(path, (polygon, (W, H)))]
    not_found_ready = Signal(list)  # [(path, reason)]
    status = Signal(str)
    idle = Signal()  # heatmap work ended or was switched off: its progress line is stale
    heatmaps_finished = Signal()
    outlines_finished = Signal(object)  # [Location]
    error = Signal(str, str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.task = TaskSlot(self)
        self.query: str | None = None
        self.box = None
        self.result = None
        self._heated: set[str] = set()  # results of ``result`` that have their heatmap
        self.heat_toggle = QCheckBox("Heatmap")
        self.heat_toggle.setAccessibleName("Show heatmaps")
        self.heat_toggle.setToolTip("Where the model looked, or where it matched (Ctrl+H)")
        self.heat_toggle.toggled.connect(self._heat_toggled)
        self.heat_mode = QComboBox()
        self.heat_mode.setAccessibleName("Heatmap shows")
        for key, label in HEAT_MODES:
            self.heat_mode.addItem(label, key)
        self.heat_mode.setToolTip(
            "Network attention: where the model looked. Where it matched: the density of the "
            "points the geometric check matched, on the query and each verified result."
        )
        self.heat_mode.currentIndexChanged.connect(self._mode_changed)
        self.heat_mode.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.heat_mode.setMinimumContentsLength(max(len(label) for _, label in HEAT_MODES))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setAccessibleName("Heatmap opacity")
        self.opacity.setMinimumWidth(80)
        self.opacity.valueChanged.connect(self._opacity_changed)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.heat_toggle)
        lay.addWidget(self.heat_mode)
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
        """The model or device changed: what is being computed with the old one is dropped."""
        self.task.cancel()

    # ---------------------------------------------------------------- heatmaps

    def _opacity_changed(self) -> None:
        self.heat_opacity_changed.emit(self.heat_opacity())

    def _heat_toggled(self, on: bool) -> None:
        if not on:
            self.task.cancel()
            self.idle.emit()
        self.heat_opacity_changed.emit(self.heat_opacity())
        if on:
            self.show_heatmaps()

    def _mode_changed(self) -> None:
        self.task.cancel()
        if self.result is not None:  # the other kind of heatmap replaces every one shown
            self.result_heats_ready.emit([(h.path, None) for h in self.result.hits])
            self.query_heat_ready.emit(None)
        self._heated = set()
        if self.heat_toggle.isChecked():
            self.show_heatmaps()

    def show_heatmaps(self) -> None:
        """The chosen heatmaps of the query and the results, computed off the GUI thread."""
        if self.result is None:
            return
        if self.heat_mode.currentData() == "matched":
            w = self._match_heats()
            label = "where it matched"
        else:
            w = self._attention_heats()
            label = "heatmaps"
        w.signals.progress.connect(lambda d, t, _m: self.status.emit(f"{label}: {d}/{t}"))
        w.signals.result.connect(self._on_heatmaps)
        w.signals.error.connect(self.error)
        self.task.start(w)

    def _query_size(self) -> tuple[float, float]:
        box = self.result.box
        return (box[2] - box[0], box[3] - box[1]) if box else self.result.original_size

    def _attention_heats(self) -> Worker:
        """The query's attention from the search; the top results' from the network."""
        from engine.photo import attention_overlay

        res, spec, library = self.result, self.state.model_spec, self.state.library
        size = self._query_size()
        paths = [h.path for h in res.hits[:EXPLAIN_TOP] if h.path not in self._heated]

        def compute(progress, should_stop):
            query = attention_overlay(res.attention, size, QUERY_HEAT_SIDE)
            library.model(spec)  # loads the model here, not on the GUI thread (or fails here)
            out = []
            for i, p in enumerate(paths):
                if should_stop():
                    break
                try:
                    out.append((p, library.attention_overlay(p, spec, RESULT_HEAT_SIDE)))
                except Exception:  # an unreadable result simply gets no heatmap
                    continue
                progress(i + 1, len(paths), "heatmaps")
            return query, out

        return Worker(compute)

    def _match_heats(self) -> Worker:
        """Where the verified matches are: their points in each verified result, and all of
        them together on the query (its box when there is one)."""
        from engine.photo import points_overlay

        res, query, box, searched = self.result, self.query, self.result.box, self.box
        spec, library = self.state.model_spec, self.state.library
        hits = [h for h in res.hits if h.verified and h.width]
        qsize, origin = self._query_size(), np.array(box[:2] if box else (0.0, 0.0))

        def compute(progress, should_stop):
            q_points, out = [], []
            for i, h in enumerate(hits):
                if should_stop():
                    break
                v = library.evidence(query, h.file_id, box=searched, model=spec)
                if v.p_xy is not None and len(v.p_xy):
                    q_points.append(np.asarray(v.q_xy, np.float32) - origin)
                    size = (h.width, h.height)
                    out.append((h.path, points_overlay(v.p_xy, size, RESULT_HEAT_SIDE)))
                progress(i + 1, len(hits), "where it matched")
            if not q_points:  # nothing verified: no heat, rather than a blank tint
                return None, out
            return points_overlay(np.concatenate(q_points), qsize, QUERY_HEAT_SIDE), out

        return Worker(compute)

    def _on_heatmaps(self, out) -> None:
        query, items = out
        self._heated.update(p for p, _ in items)
        self.query_heat_ready.emit(None if query is None else rgba_to_qimage(query))
        self.result_heats_ready.emit([(p, rgba_to_qimage(rgba)) for p, rgba in items])
        if query is None:
            self.status.emit("no verified match: nothing to show where it matched")
        else:
            self.idle.emit()
        self.heatmaps_finished.emit()

    # ---------------------------------------------------------------- outlines

    def outline_click(self, point) -> None:
        """Outline the clicked object of the query in the results where it is found."""
        res, query, box, spec = self.result, self.query, self.box, self.state.model_spec
        if res is None or not query:
            return
        library = self.state.library
        hits = shown_hits(res)
        ids = [h.file_id for h in hits]
        self.outlines_cleared.emit()
        self.status.emit(f"looking for the clicked object in {len(ids)} results…")

        def compute(progress, should_stop):
            out = []
            for start in range(0, len(ids), LOCATE_STEP):
                if should_stop():
                    break
                step = ids[start : start + LOCATE_STEP]
                out += library.locate(
                    query, step, box=box, point=point, model=spec, should_stop=should_stop
                )
                progress(len(out), len(ids), "outlining")
            return out

        w = Worker(compute)
        w.signals.progress.connect(
            lambda d, t, m: self.status.emit(f"outlining the clicked object: {d}/{t}")
        )
        w.signals.result.connect(lambda locs: self._on_outlines(hits, locs))
        w.signals.error.connect(self.error)
        self.task.start(w)

    def _on_outlines(self, hits, locations) -> None:
        by_id = {h.file_id: h for h in hits}
        found, missing = [], []
        for loc in locations:
            h = by_id.get(loc.file_id)
            if h is None:
                continue
            if loc.found and loc.polygon and h.width:
                found.append((h.path, (loc.polygon, (h.width, h.height))))
            else:
                missing.append((h.path, loc.reason or "not found in this photo"))
        self.outlines_ready.emit(found)
        self.not_found_ready.emit(missing)
        if found:
            self.status.emit(f"outlined the clicked object in {len(found)} of {len(hits)} results")
        else:
            self.status.emit(NOTHING_SHARED)
        self.outlines_finished.emit(locations)

    def shutdown(self) -> None:
        self.task.wait()
