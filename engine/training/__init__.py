"""Training the retrieval networks: data sets (folders, GLDv2 CSVs, generated objects, pairs
mined from a library), the trainer with its losses and heads, and plans for this machine."""

from engine.lazy import attach

#: public name → the module that defines it (imported on first use)
_SOURCES = {
    "MinedData": "engine.training.mined",
    "TrainConfig": "engine.training.config",
    "Trainer": "engine.training.trainer",
    "available_cores": "engine.cores",
    "cpu_images_per_s": "engine.training.plan",
    "measure_images_per_s": "engine.training.plan",
    "open_dataset": "engine.training.data",
    "plan_for_this_machine": "engine.training.plan",
    "propose": "engine.training.plan",
    "render_scene": "engine.training.generator",
    "sample_boxes": "engine.training.generator",
    "trained_models": "engine.training.made",
    "write_training_set": "engine.training.generator",
}

__all__ = sorted(_SOURCES)

__getattr__, __dir__ = attach(__name__, _SOURCES)
