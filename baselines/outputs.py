"""`outputs`: score the images another program wrote, one per pair of the evaluation (`bench export`).

`--method outputs:dir=P[,label=NAME][,allow_missing=true]` reads `P/<pair_id>.png`, or LaMa's naming
`P/<pair_id>_mask.png` (its bin/predict.py names an output after the mask `<pair_id>_mask.png`), for the
pairs of this evaluation, matched by pair_id (zero-padded or not). Outputs are composited like every
method's (valid pixels restored) before the metrics.

Before anything is written, `bind_pairs` checks every file it will read: present (unless
`allow_missing`), a readable 8-bit colour image (3 channels, or 4 with an opaque alpha) of the images'
size. A single-channel (grey-scale) file is refused; an RGB file whose channels happen to be equal is a
colour image and is accepted. Its options carry a digest over (file name, file digest, image, mask) of
every file read, so a changed file gets a new fingerprint (rescored) and an unchanged folder is reused.

A folder stamped by `bench export` (export.json's "selection": the folder is the export folder, lies
inside it, or `export=EXPORT` names it) must be of this evaluation's selection: outputs written for other
pairs are refused, naming both selections, instead of being scored against other masks. A folder without
a stamp (another tool's) is scored as it is.

It also measures the mean absolute change the program made to the valid pixels (`meta`, run.json and a
table note): 0 for a program that keeps the known pixels (inpainting programs composite their output), and
above 0 when outputs and pairs do not match: outputs exported with other selection options are then
scored against other masks, and the filled holes of the export lie where this evaluation's masks say
"valid". Above VALID_CHANGE_LIMIT (mean over the pairs) the folder is refused with the pairs that change
most; `keeps_valid=false` accepts a program that does change known pixels (resampling, re-encoding), and
the note still gives the figure.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch

from bench.core.errors import BenchError
from bench.methods.inpainters import Inpainter, register
from bench.runs.pairing import pair_stem
from masks.conventions import HOLE_FILL, is_valid

# Mean |output - input| over valid pixels (on [0, 1]) above which an outputs folder is refused as not
# belonging to this evaluation's pairs (1/255: more than every valid pixel off by one grey level).
VALID_CHANGE_LIMIT = 1 / 255

OUTPUT_NAME = re.compile(r"(\d+)(_mask)?\.png")  # <pair_id>.png, or LaMa's <pair_id>_mask.png
SHOW = 3  # offenders named in an error message


def list_outputs(folder: Path) -> dict[int, list[str]]:
    """pair_id -> file names in `folder` that name it (more than one is ambiguous)."""
    found: dict[int, list[str]] = {}
    for name in sorted(p.name for p in Path(folder).iterdir()):
        m = OUTPUT_NAME.fullmatch(name)
        if m:
            found.setdefault(int(m.group(1)), []).append(name)
    return found


def read_output(path: Path, hw: tuple[int, int]) -> tuple[np.ndarray | None, str]:
    """(uint8 (H,W,3) RGB, "") or (None, what is wrong with the file)."""
    from bench.core.files import ImageTooLarge, decode_file

    try:
        raw = decode_file(path, cv2.IMREAD_UNCHANGED)  # its header's size bounded before decoding
    except ImageTooLarge as e:
        return None, str(e).rsplit(": ", 1)[-1]
    except ValueError:
        raw = None
    if raw is None:
        return None, "not a readable image"
    if raw.dtype != np.uint8:
        return None, f"{raw.dtype.itemsize * 8}-bit; write 8-bit PNGs"
    if raw.ndim == 2 or raw.shape[2] < 3:
        return None, "grey-scale (one channel); write RGB"
    if raw.shape[:2] != tuple(hw):
        return None, f"{raw.shape[1]}x{raw.shape[0]} px, the images are {hw[1]}x{hw[0]}"
    if raw.shape[2] == 4 and (raw[..., 3] != 255).any():
        return None, "has transparent pixels"
    return cv2.cvtColor(np.ascontiguousarray(raw[..., :3]), cv2.COLOR_BGR2RGB), ""


def _offenders(items: list[str], what: str, hint: str) -> BenchError:
    shown = "; ".join(items[:SHOW]) + (f"; and {len(items) - SHOW} more" if len(items) > SHOW else "")
    return BenchError(f"{len(items)} output file(s) {what}: {shown}. {hint}")


def find_stamp(folder: Path, export: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """(export.json, its "selection" stamp) of the export an outputs folder belongs to: `export` when
    given (a BenchError if it has none), else the folder itself or its parent; None when unstamped."""
    from bench.runs.pairing import EXPORT_FILE

    places = [export] if export is not None else [folder, folder.parent]
    for place in places:
        path = Path(place) / EXPORT_FILE
        if not path.is_file():
            continue
        try:
            stamp = json.loads(path.read_text()).get("selection")
        except (OSError, ValueError, AttributeError):
            raise BenchError(f"{path} is corrupt; export again with `bench export`") from None
        if isinstance(stamp, dict) and isinstance(stamp.get("digest"), str):
            return path, stamp
    if export is not None:
        raise BenchError(f"method 'outputs': export={export} holds no `bench export` stamp ({EXPORT_FILE})")
    return None


def check_stamp(folder: Path, export: Path | None, pairs: Any) -> None:
    """Refuse outputs exported for another selection than `pairs` (one line naming both)."""
    from bench.runs.pairing import describe_selection, selection_stamp

    found = find_stamp(folder, export)
    if found is None:
        return
    path, stamp = found
    ours = selection_stamp(pairs)
    if stamp["digest"] != ours["digest"]:
        raise BenchError(
            f"method 'outputs': {folder} was exported for {describe_selection(stamp)} ({path}); this "
            f"evaluation is {describe_selection(ours)}; evaluate with the export's selection options "
            "(or export this selection and run the program again)"
        )


@register("outputs")
class OutputsInpainter(Inpainter):
    """The images another program wrote for the pairs of a `bench export`, read from a folder."""

    name = "outputs"
    defaults: ClassVar[dict[str, Any]] = {"dir": ""}
    # Not in the fingerprint: the label names the column; allow_missing only decides whether a missing
    # file is an error (the files read are in the fingerprint, through the digest).
    # export: the `bench export` folder whose stamp the outputs must match (else looked for in dir and
    # its parent); a check only, the outputs' digest decides what is recomputed.
    # keeps_valid: refuse outputs that change the valid pixels by more than VALID_CHANGE_LIMIT on average.
    runtime_defaults: ClassVar[dict[str, Any]] = {"label": "", "allow_missing": False, "workers": 1,
                                                  "export": "", "keeps_valid": True}  # fmt: skip

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        folder = Path(self.options["dir"]) if self.options["dir"] else None
        if folder is None:
            raise BenchError("method 'outputs' needs a folder: --method outputs:dir=PATH[,label=NAME]")
        if not folder.is_dir():
            raise BenchError(f"method 'outputs': dir={folder} is not a folder")
        self.folder = folder.resolve()
        self.options["dir"] = str(self.folder)
        self.label = str(self.runtime["label"] or self.folder.name)
        self.files: dict[int, Path] = {}  # pair_id -> output file, set by bind_pairs
        self.skipped_pairs: set[int] = set()
        self.hw: tuple[int, int] = (0, 0)

    def bind_pairs(self, pairs: Any, data: Path, masks: Path, hw: tuple[int, int], cache: Any) -> None:
        """Find and check the output file of every pair (BenchError naming the offenders), then set the
        digest option and the valid-pixel diagnostic. Reads only."""
        check_stamp(self.folder, Path(self.runtime["export"]) if self.runtime["export"] else None, pairs)
        found = list_outputs(self.folder)
        ids = [int(i) for i in pairs["pair_id"]]
        twice = [" and ".join(found[i]) for i in ids if len(found.get(i, ())) > 1]
        if twice:
            raise _offenders(twice, f"in {self.folder} name the same pair", "Keep one file per pair.")
        missing = [i for i in ids if i not in found]
        if missing and not self.runtime["allow_missing"]:
            names = [f"{pair_stem(i)}.png" for i in missing]
            hint = "Run the program on every pair, or pass allow_missing=true to score the rest."
            raise _offenders(names, f"are missing in {self.folder}", hint)
        self.skipped_pairs = set(missing)
        self.files = {i: self.folder / found[i][0] for i in ids if i in found}
        self.hw = tuple(hw)
        changes = self._check_all(pairs, Path(data), Path(masks))
        self._check_valid_change(changes)
        digests = cache.digests(list(self.files.values()), int(self.runtime["workers"]))
        rows = {int(r.pair_id): (r.image, r.mask) for r in pairs.itertuples()}
        h = hashlib.sha256()
        for (i, path), d in zip(self.files.items(), digests, strict=True):
            h.update(f"{path.name}\t{d}\t{rows[i][0]}\t{rows[i][1]}\n".encode())
        self.options["outputs_sha256"] = h.hexdigest()[:16]
        self._set_meta(len(ids), changes)

    def _check_all(self, pairs: Any, data: Path, masks: Path) -> dict[int, float]:
        """Decode every output file (checked) and measure its change to the valid pixels, per pair id."""
        from bench.core.files import read_mask
        from bench.data.decode import load_image

        rows = [(int(r.pair_id), r.image, r.mask) for r in pairs.itertuples() if int(r.pair_id) in self.files]

        def one(row: tuple[int, str, str]) -> tuple[str, float]:
            i, image, mask = row
            out, problem = read_output(self.files[i], self.hw)
            if out is None:
                return f"{self.files[i].name} ({problem})", 0.0
            img, m = load_image(data / image), read_mask(masks / mask)
            if m.shape != self.hw:
                m = cv2.resize(m, (self.hw[1], self.hw[0]), interpolation=cv2.INTER_NEAREST)
            valid = is_valid(m)
            if not valid.any():
                return "", 0.0
            diff = np.abs(out.astype(np.float32) - img.astype(np.float32)) / 255.0
            return "", float(diff[valid].mean())

        workers = max(1, int(self.runtime["workers"]))
        if workers > 1 and len(rows) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(one, rows))
        else:
            results = [one(r) for r in rows]
        bad = [p for p, _ in results if p]
        if bad:
            raise _offenders(bad, f"in {self.folder} cannot be scored",
                             "Write 8-bit RGB PNGs of the images' size, one per pair.")  # fmt: skip
        return {row[0]: c for row, (_, c) in zip(rows, results, strict=True)}

    def _check_valid_change(self, changes: dict[int, float]) -> None:
        change = float(np.mean(list(changes.values()))) if changes else 0.0
        if not self.runtime["keeps_valid"] or change <= VALID_CHANGE_LIMIT:
            return
        worst = sorted(changes, key=lambda i: -changes[i])[:3]
        shown = ", ".join(f"{self.files[i].name} {changes[i] * 255:.1f}/255" for i in worst)
        limit = f"{VALID_CHANGE_LIMIT * 255:.0f}/255"
        raise BenchError(
            f"method 'outputs': {self.folder} changes the valid pixels of this evaluation's pairs (mean "
            f"|output - input| {change * 255:.3f}/255 over valid pixels, limit {limit}; most: {shown}): "
            "outputs of another selection? Evaluate with the export's selection options (--ratio, --border, "
            "--limit, --seed, --pairing) or name it with export=EXPORT; if the program does change known "
            "pixels, pass keeps_valid=false"
        )

    def _set_meta(self, n_pairs: int, changes: dict[int, float]) -> None:
        change = float(np.mean(list(changes.values()))) if changes else 0.0
        notes = [
            f"{self.label}: outputs of an external program read from {self.folder.name}/; mean |output - "
            f"input| over valid pixels {change * 255:.3f}/255 (valid pixels are restored before scoring)."
        ]
        if self.skipped_pairs:
            notes.append(
                f"{self.label}: {len(self.skipped_pairs)} of {n_pairs} pairs had no output file and were "
                "skipped (allow_missing); its cells average the other pairs."
            )
        n_skipped = len(self.skipped_pairs)
        self.meta = {"dir": str(self.folder), "n_outputs": len(self.files), "n_skipped": n_skipped,
                     "valid_change": change, "notes": notes}  # fmt: skip

    def outputs_for(self, pairs: Any, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) in [0,1]: the output file of each pair of the chunk (HOLE_FILL for a skipped one)."""
        outs = []
        for i in (int(x) for x in pairs["pair_id"]):
            if i not in self.files:
                if i in self.skipped_pairs:
                    outs.append(torch.full(images.shape[1:], HOLE_FILL))
                    continue
                raise BenchError(f"method 'outputs' was not bound to pair {i}")
            out, problem = read_output(self.files[i], self.hw)
            if out is None:
                raise BenchError(f"{self.files[i]}: {problem} (the file changed during the run)")
            outs.append(torch.from_numpy(out).permute(2, 0, 1).float() / 255.0)
        return torch.stack(outs).to(images.device)

    def inpaint(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        raise BenchError("method 'outputs' reads files per pair; use it in `bench evaluate` (outputs_for)")
