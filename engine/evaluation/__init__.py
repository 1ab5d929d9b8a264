"""Measuring retrieval: the Revisited Oxford/Paris protocol, leave-one-out mAP on a folder
set, the product's pipeline over an evaluation set, and the train/evaluation overlap audit."""

from engine.lazy import attach

#: public name → the module that defines it (imported on first use)
_SOURCES = {
    "audit": "engine.evaluation.overlap",
    "evaluate_folder_set": "engine.evaluation.runner",
    "evaluate_revisitop": "engine.evaluation.runner",
    "load_ground_truth": "engine.evaluation.revisitop",
}

__all__ = sorted(_SOURCES)

__getattr__, __dir__ = attach(__name__, _SOURCES)
