"""Training pairs mined from a library, with no labels: what the local pipeline verifies.

As SfM-120k was built ("CNN image retrieval learns from BoW", Radenović, Tolias, Chum, ECCV
2016), a training-free pipeline decides which photos show the same thing, and the global
network then learns from it:

A stop (``should_stop``) keeps what was done: the pairs of the photos checked so far, marked
``counts["cancelled"]``.

1. **Positives**: each photo is searched as a query with the local pipeline alone (its own
   RootSIFT features, several visual words each), and its ``NEIGHBOURS`` first results are
   verified geometrically; a pair needs ``MIN_INLIERS`` inliers. A verified pair whose
   transform, checked again on the stored codes, is close to the identity
   (a resize, a recompression, a small crop: ``duplicates.near_identity`` with most of one
   photo covering the other) is a near-duplicate and teaches nothing about a change of view:
   it is kept apart, never a positive and never a negative.
2. **Pseudo-classes**: the connected components of the positive pairs; a component larger
   than ``CLASS_CAP`` keeps the photos with the most verified links.
3. **Hard negatives**: for each photo of a class, the photos the current global model ranks
   highest outside its class, verified on the codes; those verification rejects are its hard
   negatives (the trainer refreshes them each epoch with the model being trained).
4. **Held out**: from a fixed share of the classes of three photos or more (by ``seed``), and
   from at least ``MIN_HELD_OUT`` of them where there are as many, the
   photo with the most verified matches is kept out of training: afterwards it is searched
   with the global model, which should find its verified matches (the other views it did
   train on) — the evaluation without labels.
5. **Pool**: other library photos, sampled by ``seed``, that the trainer may pick as negatives.

The result is a :class:`~engine.training.mined.MinedSet`, written as readable JSON.
"""

from __future__ import annotations

import os
import random
import time

import numpy as np

from engine.errors import BadImageError, VisualSearchError
from engine.library.library import Library
from engine.library.query.duplicates import MIN_COVER, _cover, connected_components, near_identity
from engine.library.query.duplicates import MIN_INLIERS as DUPLICATE_INLIERS
from engine.match.verify import MIN_INLIERS as VERIFY_MIN_INLIERS
from engine.match.verify import verify_codes
from engine.tasks import Rate
from engine.training.mined import MIN_HELD_OUT, MinedSet

#: nearest photos in the inverted file that are verified, per photo
NEIGHBOURS = 10
#: one-to-one inliers a positive needs (above search's 12: training wants few wrong pairs)
MIN_INLIERS = 15
#: photos a pseudo-class keeps at most
CLASS_CAP = 25
#: global neighbours checked per photo for hard negatives, and negatives kept per photo
NEGATIVE_CANDIDATES = 10
NEGATIVES_PER_PHOTO = 5
#: share of the classes held out for evaluation; other library photos in the pool at most
HOLD_OUT = 0.2
POOL = 2000


class NotEnoughPairs(VisualSearchError):
    """Too few verified matches in the library to train on."""


def _capped(members: list[int], pairs: list[tuple[int, int, int]]) -> list[int]:
    if len(members) <= CLASS_CAP:
        return members
    links: dict[int, int] = {m: 0 for m in members}
    for a, b, _ in pairs:
        if a in links:
            links[a] += 1
        if b in links:
            links[b] += 1
    keep = sorted(members, key=lambda m: (-links[m], m))[:CLASS_CAP]
    return sorted(keep)


def mine(
    library: Library,
    model: str | None = None,
    seed: int = 0,
    progress=None,
    should_stop=None,
    hold_out: float = HOLD_OUT,
    min_inliers: int = MIN_INLIERS,
) -> MinedSet:
    """Mine ``library`` (already indexed) for training pairs; see the module's text."""
    progress = progress or (lambda done, total, message: None)
    should_stop = should_stop or (lambda: False)
    t0 = time.perf_counter()
    store = library.store
    book = library.codebook()
    codes = dict(store.codes.iter_local_codes(book.fingerprint))
    rows = store.files.files_by_ids(list(codes))
    ids = sorted(i for i in codes if rows.get(i) is not None and rows[i].width)
    size = {i: (rows[i].width, rows[i].height) for i in ids}
    positives: list[tuple[int, int, int]] = []
    near_dups: list[tuple[int, int, int]] = []
    checked: set[tuple[int, int]] = set()
    rate = Rate()  # this run's photos per second: the time left
    rate.update(0)
    done = 0  # photos checked: a stop keeps the pairs verified so far
    for n, fid in enumerate(ids):
        if should_stop():
            break
        done = n + 1
        try:  # the query path: the photo's own features, several words each
            res = library.search(
                rows[fid].display_path,
                k=NEIGHBOURS,
                pipeline="local",
                verify=NEIGHBOURS,
                model=model,
            )
        except (BadImageError, OSError):
            continue  # moved or unreadable since it was indexed: it simply has no pairs
        for h in res.hits:
            pair = (min(fid, h.file_id), max(fid, h.file_id))
            if h.file_id == fid or h.file_id not in size or pair in checked:
                continue
            checked.add(pair)
            if not h.verified or (h.inliers or 0) < min_inliers:
                continue
            if _near_duplicate(pair, codes, size):
                near_dups.append((*pair, int(h.inliers)))
            else:
                positives.append((*pair, int(h.inliers)))
        rate.update(n + 1)
        progress(
            n + 1,
            len(ids),
            f"verifying matches: {n + 1}/{len(ids)} photos, {rate.text(n + 1, len(ids))}",
        )
    classes = [_capped(c, positives) for c in connected_components((a, b) for a, b, _ in positives)]
    classes.sort(key=lambda c: (-len(c), c[0]))
    rng = random.Random(seed)
    held = _held_out(classes, positives, hold_out, rng)
    in_class = {m: k for k, c in enumerate(classes) for m in c}
    stopped = done < len(ids)
    negatives = {}
    if not stopped:  # the trainer finds hard negatives itself each epoch; these are a start
        _fill_vectors(library, model, progress, should_stop)
        negatives = _hard_negatives(
            library, model, in_class, codes, size, positives + near_dups, progress, should_stop
        )
    others = [i for i in ids if i not in in_class]
    rng.shuffle(others)
    pool = sorted(others[:POOL])
    used = sorted({*in_class, *pool, *(j for v in negatives.values() for j in v)})
    index = {fid: k for k, fid in enumerate(used)}
    photos = [
        {"path": rows[f].display_path, "width": rows[f].width, "height": rows[f].height}
        for f in used
    ]

    def remap(pairs):
        return [[index[a], index[b], n] for a, b, n in pairs if a in index and b in index]

    counts = {
        "photos_checked": done,
        "photos_in_library": len(ids),
        "cancelled": stopped or should_stop(),
        "pairs_checked": len(checked),
        "photos_with_a_positive": len({m for a, b, _ in positives for m in (a, b)}),
        "pairs": len(positives),
        "near_duplicate_pairs": len(near_dups),
        "classes": len(classes),
        "held_out_photos": len(held),
        "negatives": sum(len(v) for v in negatives.values()),
        "pool": len(pool),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return MinedSet(
        photos=photos,
        pairs=remap(positives),
        near_duplicates=remap(near_dups),
        classes=[[index[m] for m in c] for c in classes],
        held_out=[index[m] for m in held],
        negatives={index[a]: [index[b] for b in v] for a, v in negatives.items()},
        pool=[index[p] for p in pool],
        counts=counts,
        meta={
            "library": str(library.dir),
            "codebook": book.fingerprint,
            "model": library.model(model)[1].spec,
            "seed": seed,
            "min_inliers": min_inliers,
            "neighbours": NEIGHBOURS,
            "class_cap": CLASS_CAP,
        },
    )


def _held_out(classes, positives, share: float, rng: random.Random) -> list[int]:
    """One photo from a ``share`` of the classes of three photos or more: the photo with the
    most verified matches, left out of training and searched for them afterwards."""
    big = [k for k, c in enumerate(classes) if len(c) >= 3]
    rng.shuffle(big)
    # at least MIN_HELD_OUT where the library has them: fewer cannot compare two models (a
    # class of three keeps two photos to train on, so holding one out costs no class)
    want = max(min(MIN_HELD_OUT, len(big)), round(len(big) * share))
    chosen = big[:want] if big and share else []
    links: dict[int, int] = {}
    for a, b, _ in positives:
        links[a] = links.get(a, 0) + 1
        links[b] = links.get(b, 0) + 1
    return sorted(max(classes[k], key=lambda m: (links.get(m, 0), -m)) for k in chosen)


def _verify_stored(pair, codes, size, min_inliers: int):
    """The pair verified on its stored codes (the smaller photo mapped into the larger), with
    the smaller one's size; None when there are too few features. ``min_inliers`` is asked of
    a verified pair on top of the verifier's own verdict."""
    a, b = pair
    ca, cb = codes[a], codes[b]
    if min(len(ca), len(cb)) < min_inliers:
        return None, None
    sa, sb = size[a], size[b]
    if sa[0] * sa[1] > sb[0] * sb[1]:
        a, b, ca, cb, sa, sb = b, a, cb, ca, sb, sa
    v = verify_codes(ca, sa, cb, sb)
    if v.verified and v.inliers < min_inliers:
        v.verified = False
    return v, (sa, sb)


def _near_duplicate(pair, codes, size) -> bool:
    """A copy rather than another view: the stored codes verify it with a transform close to
    the identity, one photo covering most of the other (as the duplicates view decides)."""
    v, sizes = _verify_stored(pair, codes, size, DUPLICATE_INLIERS)
    if v is None or not v.verified or v.H is None:
        return False
    return near_identity(v.H, sizes[0]) and _cover(v.H, *sizes) >= MIN_COVER


def _rejected(pair, codes, size) -> bool:
    """Verification on the stored codes finds no match (a hard negative may be used)."""
    v, _ = _verify_stored(pair, codes, size, VERIFY_MIN_INLIERS)
    return v is None or not v.verified


def _fill_vectors(library, model, progress, should_stop) -> None:
    """Hard negatives are the served model's global neighbours: photos indexed without its
    vectors (a model whose ranking does not use them) get them now, as resumable indexing."""
    _, row = library.model(model)
    if not library.store.vectors.count_missing(row.id):
        return
    folders = [os.fsdecode(p) for _, p in library.store.files.folders() if os.path.isdir(p)]
    if folders:
        library.index(
            folders, model=model, progress=progress, should_stop=should_stop, vectors=True
        )


def _hard_negatives(
    library, model, in_class, codes, size, verified, progress=None, should_stop=None
):
    """Per class photo, the top global neighbours outside its class that verification
    rejects (with the model the library serves)."""
    _, row = library.model(model)
    vi = library.vector_index(row)
    members = sorted(in_class)
    vectors = library.store.vectors.vectors_for(row.id, members)
    linked = {(a, b) for a, b, _ in verified}
    out: dict[int, list[int]] = {}
    rate = Rate()
    rate.update(0)
    for n, fid in enumerate(members):
        if should_stop is not None and should_stop():
            break  # what was found is kept
        if progress is not None:
            rate.update(n)
            progress(
                n,
                len(members),
                f"looking for hard negatives: {n}/{len(members)} photos, "
                f"{rate.text(n, len(members))}",
            )
        vec = vectors.get(fid)
        if vec is None or not vi.ntotal:
            continue
        _, found = vi.search(np.asarray(vec, np.float32)[None], NEGATIVE_CANDIDATES + 1)
        negs = []
        for j in (int(j) for j in found[0]):
            if j < 0 or j == fid or j not in size or in_class.get(j) == in_class[fid]:
                continue
            pair = (min(fid, j), max(fid, j))
            if pair in linked or not _rejected(pair, codes, size):
                continue  # a verified match is never a negative
            negs.append(j)
            if len(negs) == NEGATIVES_PER_PHOTO:
                break
        if negs:
            out[fid] = negs
    return out


def require_enough(mined: MinedSet, min_classes: int = 4) -> None:
    """Raise ``NotEnoughPairs`` with the counts when training could not learn anything."""
    c = mined.counts
    if c["classes"] < min_classes or c["held_out_photos"] < 1:
        raise NotEnoughPairs(
            f"too few verified matches to train on: {c['pairs']} pairs of photos showing the "
            f"same thing (and {c['near_duplicate_pairs']} near-duplicates, which teach nothing) "
            f"in {c['photos_checked']} photos, forming {c['classes']} groups; at least "
            f"{min_classes} groups are needed, one of them of three photos or more (photos of "
            "the same objects or places from different views)"
        )
