"""The retrieval networks (CiDeR, UGALR, GeM) behind a registry: configs, checkpoints,
ImageNet weights, the device they run on, extraction, attention maps and the seed method."""
