"""Training-free local features: RootSIFT, a visual-word codebook, ASMK* codes in an inverted
file, and spatial verification on stored codes."""

from engine.match.asmk import LocalCode, QueryCode, encode, encode_query
from engine.match.codebook import Codebook, CodebookError, train_codebook
from engine.match.describe import LocalFeatures, local_features, rootsift
from engine.match.ivf import InvertedFile
from engine.match.verify import Verification, verify_code, verify_codes

__all__ = [
    "Codebook",
    "CodebookError",
    "InvertedFile",
    "LocalCode",
    "LocalFeatures",
    "QueryCode",
    "Verification",
    "encode",
    "encode_query",
    "local_features",
    "rootsift",
    "train_codebook",
    "verify_code",
    "verify_codes",
]
