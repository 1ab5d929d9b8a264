"""Photos in, pixels out: decoding (JPEG, PNG, HEIC, RAW previews, EXIF orientation), photo
file names, decoding on the GPU, and drawing heatmaps and outlines over a photo."""

from engine.lazy import attach

#: public name → the module that defines it (imported on first use)
_SOURCES = {
    "Box": "engine.photo.decode",
    "IMAGE_EXTENSIONS": "engine.photo.formats",
    "PhotoSource": "engine.photo.decode",
    "attention_overlay": "engine.photo.drawing",
    "box_iou": "engine.photo.drawing",
    "draw_overlay": "engine.photo.drawing",
    "heatmap": "engine.photo.drawing",
    "is_photo_name": "engine.photo.formats",
    "load_photo": "engine.photo.decode",
    "overlay": "engine.photo.drawing",
    "points_overlay": "engine.photo.drawing",
}

__all__ = sorted(_SOURCES)

__getattr__, __dir__ = attach(__name__, _SOURCES)
