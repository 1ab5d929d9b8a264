"""``bench settings``: the local features' size and count, speed beside quality.

For each setting (long side the features are computed at, strongest features kept), the
database of a Revisited-Oxford-format set is described on the worker processes, as indexing
describes photos, and ranked as the default search ranks (local similarity, the top photos
verified). Queries are described at the same setting and, in a second row, at the default
long side (a search describes one photo: it can afford the larger size).

Figures: database photos described per second (all cores), features and bytes of local data
per photo, Easy / Medium / Hard mAP.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def bench_settings(
    gnd: str,
    images: str,
    sides: tuple[int, ...] = (1024, 800, 640),
    features: tuple[int, ...] = (1000,),
    verify: int = 50,
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    from engine.bench.quality import evaluation_set
    from engine.evaluation.pipeline import LocalDatabase, describe_queries
    from engine.evaluation.revisitop import evaluate_ranking
    from engine.match.codebook import default_codebook
    from engine.match.describe import DEFAULT, DescribeSettings

    gt, db_paths, q_paths, boxes = evaluation_set(gnd, images)
    book = default_codebook()
    default_queries = describe_queries(q_paths, boxes, book, DEFAULT)
    rows = []
    for side in sides:
        for nf in features:
            s = DescribeSettings(long_side=side, max_features=nf)
            t = time.perf_counter()
            db = LocalDatabase.describe(db_paths, book, settings=s)
            rate = len(db_paths) / (time.perf_counter() - t)
            own = describe_queries(q_paths, boxes, book, s)
            for query_side, queries in ((side, own), (DEFAULT.long_side, default_queries)):
                if query_side == side and queries is default_queries:
                    continue
                ranking, _ = db.rank(queries, None, "local", verify)
                res = evaluate_ranking(ranking, gt)
                row = {
                    "long_side": side,
                    "features": nf,
                    "query_long_side": query_side,
                    "describe_photos_per_s": round(rate, 2),
                    "features_per_photo": round(
                        sum(len(c) for c in db.codes) / max(len(db.codes), 1)
                    ),
                    "bytes_per_photo": round(sum(c.nbytes for c in db.codes) / len(db.codes)),
                    **{p: res[p]["mAP"] for p in "EMH"},
                }
                rows.append(row)
                if log:
                    log(
                        f"side {side:5d}  features {nf:5d}  query side {query_side:5d}  "
                        f"{rate:6.2f} photos/s  {row['features_per_photo']:5d} feats  "
                        f"{row['bytes_per_photo']:6d} B  E {row['E']:6.2f}  M {row['M']:6.2f}  "
                        f"H {row['H']:6.2f}"
                    )
    return rows
