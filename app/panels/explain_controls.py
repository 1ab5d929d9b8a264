"""Why the results match: heatmaps of where the network looked or of where the verified matches
are (a choice, a toggle and an opacity), and, after a click on the query, the clicked object
outlined in the results where it is found (``Library.locate``: the search's evidence, the
object's visual words, the photo described again; each result drawn as soon as it is decided,
with the outline's confidence) and marked "not found in this photo", with the reason, elsewhere.

Heatmaps run on one task of this panel, a click's outlines on another; a new search cancels
both, and a cancelled click says so on the status line. What it finds goes out as
signals the window connects to the search panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QSlider, QWidget

from app.state import AppState
from app.views import rgba_to_qimage
from app.workers import TaskSlot, Worker

#: results that get attention heatmaps
EXPLAIN_TOP = 24
#: results a click is looked for in (the grid shows the verified ones and a handful of others)
LOCATE_TOP = 64
#: long side of the query's heatmap (it is drawn scaled over the photo) and of a result's
QUERY_HEAT_SIDE = 1024
RESULT_HEAT_SIDE = 320
#: what the heatmap shows: (key, label)
HEAT_MODES = (("attention", "Network attention"), ("matched", "Where it matched"))
NOTHING_SHARED = "nothing outlined: the click landed on nothing the results share"
#: a result where the clicked object is not outlined, when the engine gives no reason
NOT_FOUND = "not found in this photo"
NO_RESULT_YET = "a click outlines its object in the results once the search has finished"
NO_RESULT_TO_OUTLINE = "nothing to outline: the search found no photo"


def outline_note(loc) -> str:
    """What a found result says about its outline: "outline 0.82" (the engine's confidence)."""
    return f"outline {loc.confidence:.2f}"


def outline_summary(found: int, total: int, reasons: list[str]) -> str:
    """The status line once a click is decided: how many results got an outline, or why none
    did — the engine's reason when every result has the same one (a click outside the photo or
    outside the searched box), else ``NOTHING_SHARED``."""
    if found:
        return f"outlined the clicked object in {found} of {total} results"
    if reasons and len(set(reasons)) == 1 and not reasons[0].startswith(NOT_FOUND):
        return f"nothing outlined: {reasons[0]}"
    return NOTHING_SHARED


class _Relay(QObject):
    """Carries each ``Location`` from the worker thread to the GUI thread, with its click."""

    located = Signal(int, object)


@dataclass
class _Outlining:
    """The click being outlined: its number, the results asked for, what came back."""

    click: int
    hits: dict  # file id → Hit
    total: int
    done: set = field(default_factory=set)
    found: int = 0
    reasons: list = field(default_factory=list)
    cleared: bool = False  # the results' earlier outlines and marks are cleared


def shown_hits(res) -> list:
    """The hits the grid shows (``SearchResult.shown``: the verified matches and a handful of
    the others), the first ``LOCATE_TOP`` of them."""
    verified, others = res.shown()
    return (verified + others)[:LOCATE_TOP]


class ExplainControls(QWidget):
    heat_opacity_changed = Signal(object)  # float, or None when heatmaps are off
    query_heat_ready = Signal(object)  # QImage over the query (its box when there is one)
    result_heats_ready = Signal(list)  # [(path, QImage or None)]
    outlines_cleared = Signal()  # a click's answers replace the outlines shown
    outlines_restored = Signal()  # a click that cannot be used: the search's own outlines again
    outlines_ready = Signal(list)  # [(path, (polygon, (W, H)))]
    outline_notes_ready = Signal(list)  # [(path, "outline 0.82")]
    not_found_ready = Signal(list)  # [(path, reason)]
    status = Signal(str)
    idle = Signal()  # heatmap work ended or was switched off: its progress line is stale
    heatmaps_finished = Signal()
    outlines_finished = Signal(object)  # [Location]; None when the click was cancelled
    error = Signal(str, str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.task = TaskSlot(self)  # heatmaps
        self.outline_task = TaskSlot(self)  # the latest click's outlines
        self.query: str | None = None
        self.box = None
        self.result = None
        self._heated: set[str] = set()  # results of ``result`` that have their heatmap
        self._click = 0  # the latest click's number: locations of older ones are dropped
        self._outlining: _Outlining | None = None  # the click being outlined
        self._relay = _Relay(self)
        self._relay.located.connect(self._on_location)
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
        self._cancel_outlining("outlining stopped: a new search")
        self.task.cancel()
        self.result = None

    def reset_model(self) -> None:
        """The model or device changed: what is being computed with the old one is dropped."""
        self._cancel_outlining("outlining stopped: the model changed")
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
        """Outline the clicked object of the query in the shown results, each as soon as it is
        located (one ``Library.locate`` call with ``on_location``); every click ends in a
        sentence on the status line: what was outlined, why nothing was, or what stopped it."""
        res, query, box, spec = self.result, self.query, self.box, self.state.model_spec
        self._cancel_outlining("outlining stopped: a new click")
        if res is None or not query:
            self.status.emit(NO_RESULT_YET)
            return
        hits = shown_hits(res)
        if not hits:
            self.status.emit(NO_RESULT_TO_OUTLINE)
            return
        library = self.state.library
        ids = [h.file_id for h in hits]
        self._click += 1
        click, relay = self._click, self._relay
        self._outlining = _Outlining(click, {h.file_id: h for h in hits}, len(hits))
        self.status.emit(f"looking for the clicked object in {len(ids)} results…")

        def compute(should_stop):
            return library.locate(
                query,
                ids,
                box=box,
                point=point,
                model=spec,
                should_stop=should_stop,
                on_location=lambda loc: relay.located.emit(click, loc),
            )

        w = Worker(compute)
        w.signals.result.connect(lambda locs: self._on_outlines(click, locs))
        w.signals.error.connect(lambda m, d: self._outline_failed(click, m, d))
        self.outline_task.start(w)

    def _on_location(self, click: int, loc) -> None:
        """One result decided (on the GUI thread): its outline or its "not found" at once."""
        run = self._outlining
        if run is None or click != run.click or loc.file_id in run.done:
            return  # a click cancelled or superseded meanwhile
        run.done.add(loc.file_id)
        h = run.hits.get(loc.file_id)
        if h is None:
            return
        if not loc.found and loc.reason and not loc.reason.startswith(NOT_FOUND):
            run.reasons.append(loc.reason)  # the click itself cannot be used: no photo's fault
        else:
            self._answer(run, h, loc)
        self.status.emit(
            f"outlining the clicked object: {len(run.done)}/{run.total} ({run.found} found)"
        )

    def _answer(self, run: _Outlining, h, loc) -> None:
        """One result's answer to the click: its outline, or "not found in this photo"."""
        if not run.cleared:  # the first answer replaces what the results showed
            run.cleared = True
            self.outlines_cleared.emit()
        if loc.found and loc.polygon and h.width:
            run.found += 1
            self.outlines_ready.emit([(h.path, (loc.polygon, (h.width, h.height)))])
            self.outline_notes_ready.emit([(h.path, outline_note(loc))])
        else:
            run.reasons.append(loc.reason or NOT_FOUND)
            self.not_found_ready.emit([(h.path, loc.reason or NOT_FOUND)])

    def _on_outlines(self, click: int, locations) -> None:
        run = self._outlining
        if run is None or click != run.click:
            return
        for loc in locations:  # any the callback did not hear (there should be none)
            self._on_location(click, loc)
        self._outlining = None
        if not run.cleared:  # nothing answered (a click outside the box or the photo)
            self.outlines_restored.emit()
        self.status.emit(outline_summary(run.found, run.total, run.reasons))
        self.outlines_finished.emit(locations)

    def _outline_failed(self, click: int, message: str, details: str) -> None:
        run = self._outlining
        if run is None or click != run.click:
            return
        self._outlining = None
        self.status.emit(f"outlining failed: {message}")
        self.error.emit(message, details)
        self.outlines_finished.emit([])

    def _cancel_outlining(self, why: str) -> None:
        """Stop the running click, if any, and say so: the status line never keeps a stale
        "outlining …" line."""
        run = self._outlining
        if run is None:
            return
        self._outlining = None
        self.outline_task.cancel()
        self.status.emit(f"{why} ({len(run.done)} of {run.total} results looked at)")
        self.outlines_finished.emit(None)

    def cancel_outlining(self) -> None:
        """Escape: the running click stops; what was outlined stays."""
        self._cancel_outlining("outlining cancelled")

    def shutdown(self) -> None:
        self.task.wait()
        self.outline_task.wait()
