"""Which mask each test image is paired with: seeded, independent of the methods evaluated.

Two pairings (`--pairing`):

* `cross` (the default): each test image is paired with one mask from every selected (bin, group) cell, so
  the same images recur in every cell.
* `distinct`: one test image per mask, every image used at most once (the natural reading of the paper's
  12,000 test masks over a test set). It needs at least as many images as the mask set has masks.

Both are drawn for the whole mask set and the whole image list, and only then filtered by the selection
(`--ratio`, `--border`, `--limit`), so a selected cell holds exactly the pairs that cell has in the full
run. `limit` means the same in both: only the first N images (sorted keys) take part.

Distinct pairing in detail: the masks of every cell of the manifest, in canonical order (bins, groups,
files sorted), are shuffled by one seeded permutation `order`; image i (in key order) gets mask order[i].
With more images than masks the first images (as many as there are masks) are used, as `limit` keeps
the first N images under cross pairing; `limit` N gives N pairs, a seeded subset of the masks spread
over the cells.

Cross pairing in detail: the mask of image i in a cell is entry i of a seeded sequence of permutations of
that cell's masks (sorted by file), the generator seeded by (seed, cell name) only. So the pairs depend on
the seed, the images and the mask set, never on the methods, the other selected cells or `limit`. Pairs
are listed image-major: image 0 in every cell, then image 1, ...

>>> import pandas as pd
>>> man = pd.DataFrame({"file": ["a.png", "b.png"], "bin": ["0.1-0.2"] * 2, "group": ["N"] * 2})
>>> from masks.conventions import BINS, Group
>>> make_pairs(["x.png", "y.png"], man, bins=[BINS[1]], groups=[Group.N])["image"].tolist()
['x.png', 'y.png']
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from masks.conventions import BIN_NAMES, BINS, GROUPS, Bin, Group

EXPORT_FILE = "export.json"  # written by `bench export`; its "selection" is the stamp
PAIR_ID_WIDTH = 6  # pair ids in file names are zero-padded to this width, so names sort as pair ids


def pair_stem(pair_id: int) -> str:
    """The file stem of a pair in an export and in an outputs folder: `000042`."""
    return f"{int(pair_id):0{PAIR_ID_WIDTH}d}"


def make_pairs(
    images: Sequence[str],
    manifest: pd.DataFrame,
    bins: Sequence[Bin] = BINS,
    groups: Sequence[Group] = GROUPS,
    seed: int = 0,
    limit: int | None = None,
) -> pd.DataFrame:
    """Pair every image with one mask of each (bin, group) cell; seeded, see the module docstring.

    `images`: image keys (the full sorted list; `limit` keeps the first N). `manifest`: columns file, bin,
    group. Returns columns pair_id, image, mask, bin, group, in run order (image-major).
    """
    n_all = len(images)
    n = n_all if limit is None else min(limit, n_all)
    per_cell: dict[tuple[str, str], list[str]] = {}
    for b in bins:
        for g in groups:
            files = _cell_files(manifest, b, g)
            if not files:
                continue
            rng = np.random.default_rng([seed, zlib.crc32(f"{b.name}|{g}".encode())])
            reps = -(-max(n, 1) // len(files))  # permutations needed to cover n images
            order = np.concatenate([rng.permutation(len(files)) for _ in range(reps)])[:n]
            per_cell[(b.name, str(g))] = [files[j] for j in order]
    rows = [
        dict(image=images[i], mask=cell[i], bin=b, group=g)
        for i in range(n)
        for (b, g), cell in per_cell.items()
    ]
    df = pd.DataFrame(rows, columns=["image", "mask", "bin", "group"])
    df.insert(0, "pair_id", np.arange(len(df), dtype=int))
    return df


PAIRINGS: tuple[str, ...] = ("cross", "distinct")
LIMIT_HELP = (
    "Use only the first N test images (sorted by path) and the pairs they have in the full run, under "
    "either pairing (distinct: the masks those N images meet, a seeded subset of the mask set)."
)


def _cell_files(manifest: pd.DataFrame, b: Bin, g: Group) -> list[str]:
    """The mask files of one (bin, group) cell, sorted."""
    return sorted(manifest.loc[(manifest["bin"] == b.name) & (manifest["group"] == str(g)), "file"])


def make_distinct_pairs(
    images: Sequence[str],
    manifest: pd.DataFrame,
    bins: Sequence[Bin] = BINS,
    groups: Sequence[Group] = GROUPS,
    seed: int = 0,
    limit: int | None = None,
) -> pd.DataFrame:
    """Every mask of the whole mask set with an image of its own, then the selected rows; see the module
    docstring. `manifest` is the whole mask set (every cell, not only the selected ones).

    Returns the pairs of the selected cells in run order: cell by cell (bins, then groups), masks in file
    order. Raises ValueError when the mask set has more masks than there are images and `limit` is None,
    or when no selected mask meets one of the images used.
    """
    every = [f for b in BINS for g in GROUPS for f in _cell_files(manifest, b, g)]  # canonical order
    n_masks, n_images = len(every), len(images)
    if n_masks > n_images and limit is None:
        raise ValueError(
            f"distinct pairing needs one image per mask of the whole mask set: {n_masks} masks, "
            f"{n_images} images"
        )
    # Image i <-> mask order[i]: a seeded permutation of the whole set, drawn once whatever is selected.
    order = np.random.default_rng([seed, zlib.crc32(b"distinct")]).permutation(n_masks)
    n = min(n_masks, n_images if limit is None else min(limit, n_images))  # --limit: the first N images
    image_of = {every[int(order[i])]: images[i] for i in range(n)}
    rows = [
        dict(image=image_of[f], mask=f, bin=b.name, group=str(g))
        for b in bins
        for g in groups
        for f in _cell_files(manifest, b, g)
        if f in image_of
    ]
    if not rows:
        raise ValueError(f"distinct pairing: the first {n} images meet no mask of the selected cells")
    df = pd.DataFrame(rows, columns=["image", "mask", "bin", "group"])
    df.insert(0, "pair_id", np.arange(len(df), dtype=int))
    return df


SAMPLE_SEED = 0  # the draw of the pairs kept as pictures (the qualitative grid), the same in every run


def sample_pairs(pairs: pd.DataFrame, per_bin: int, seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """The pairs kept as pictures (the qualitative grid): `per_bin` pairs of every bin, bins in order.

    Row k of the whole list takes the selected groups in turn (N, B, N, ... when both are selected; the
    other group where a bin lacks it), and a photo no earlier row used while the cell has one (then the
    least used), drawn with a generator seeded by `seed`: every bin, both groups and as many photos as
    the pairs allow, the same pairs every time.
    """
    if per_bin <= 0 or pairs.empty:
        return pairs.iloc[:0]
    pairs = pairs.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    group_order = [g.value for g in GROUPS] + sorted(set(pairs["group"]) - {g.value for g in GROUPS})
    groups = [g for g in group_order if g in set(pairs["group"])]
    bins = [b for b in BIN_NAMES if b in set(pairs["bin"])]
    uses: dict[str, int] = {}
    chosen: list[int] = []  # row positions in `pairs`
    k = 0
    for b in bins:
        in_bin = pairs[pairs["bin"] == b]
        for _ in range(per_bin):
            want = groups[k % len(groups)]
            k += 1
            for g in [want, *(g for g in groups if g != want)]:
                cand = in_bin[(in_bin["group"] == g) & ~in_bin.index.isin(chosen)]
                if len(cand):
                    break
            else:
                break  # the bin has fewer pairs than per_bin
            cand = cand.sort_values("pair_id")
            used = cand["image"].map(lambda i: uses.get(i, 0)).to_numpy()
            pick = cand.index[rng.choice(np.flatnonzero(used == used.min()))]
            chosen.append(pick)
            uses[pairs.at[pick, "image"]] = uses.get(pairs.at[pick, "image"], 0) + 1
    return pairs.loc[chosen]


# ----------------------------------------------------------------------------------- naming a selection


def selection_digest(pairs: pd.DataFrame, contents: bool = True) -> str:
    """16 hex digits naming a selection: every pair's id, image, mask and (`contents`) the digests of
    their contents. Written by `bench export` (its stamp), compared by `outputs:`; without `contents` by
    `bench evaluate` with the pairs of the folder's last run (an input changed in place is the same
    selection there: its pairs are recomputed)."""
    h = hashlib.sha256()
    for r in pairs.sort_values("pair_id").itertuples():
        h.update(f"{int(r.pair_id)}\t{r.image}\t{r.mask}".encode())
        h.update(f"\t{r.inputs}\n".encode() if contents else b"\n")
    return h.hexdigest()[:16]


def selection_stamp(pairs: pd.DataFrame, contents: bool = True) -> dict[str, Any]:
    """What names a selection in a message and compares it: bins, groups, pair count, digest."""
    return {
        "bins": sorted({str(b) for b in pairs["bin"]}),
        "groups": sorted({str(g) for g in pairs["group"]}),
        "n_pairs": len(pairs),
        "digest": selection_digest(pairs, contents),
    }


def describe_selection(stamp: dict[str, Any]) -> str:
    """'0.3-0.4 B (3 pairs, digest 1a2b3c4d5e6f7a8b)'."""
    bins, groups = ",".join(stamp.get("bins") or ["?"]), "+".join(stamp.get("groups") or ["?"])
    return f"{bins} {groups} ({stamp.get('n_pairs', '?')} pairs, digest {stamp.get('digest', '?')})"
