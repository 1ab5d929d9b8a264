"""Improving the model from a library's own photos, with no labels: mine verified matches
(``mining``), then train the library's network on them (``training``)."""
