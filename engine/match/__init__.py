"""Matching two photos with no trained weights: describe a photo (RootSIFT), code it against a
visual-word codebook (ASMK*), score a library (inverted file), verify pairs, rank, outline."""

from engine.match.asmk import LocalCode, QueryCode, encode, encode_query
from engine.match.codebook import Codebook, CodebookError, train_codebook
from engine.match.describe import (
    DEFAULT,
    Described,
    DescribeSettings,
    LocalFeatures,
    describe,
    local_features,
    rootsift,
)
from engine.match.ivf import InvertedFile
from engine.match.verify import Verification, verify_code, verify_codes, verify_query

__all__ = [
    "DEFAULT",
    "Codebook",
    "CodebookError",
    "DescribeSettings",
    "Described",
    "InvertedFile",
    "LocalCode",
    "LocalFeatures",
    "QueryCode",
    "Verification",
    "describe",
    "encode",
    "encode_query",
    "local_features",
    "rootsift",
    "train_codebook",
    "verify_code",
    "verify_codes",
    "verify_query",
]
