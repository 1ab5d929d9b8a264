"""Photos in, pixels out: decoding (JPEG, PNG, HEIC, RAW previews, EXIF orientation), photo
file names, decoding on the GPU, and drawing heatmaps and outlines over a photo."""
