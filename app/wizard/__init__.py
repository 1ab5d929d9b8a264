"""The training wizard: data, method, training with live curves and evaluation (``window``),
one file per page."""
