"""Guards of issue 26 against wrong numbers with exit 0: builtin fingerprints frozen (records stay valid),
exports stamped with their selection, plugin fingerprints following their code and weights, a folder of
another selection not replaced silently, contradictory flags refused. 64 px images, two masks per cell."""

from __future__ import annotations

import pytest

import bench.inpainters as inp_mod
from bench.records import record_key

# ---------------------------------------------------------------------------------------------- 1
# The record key material of every builtin method, as literal values taken once (before any change of
# issue 26): a change of the fingerprint formula would orphan every stored record of these methods.
# Never update these to make a test pass; a deliberate change needs a migration of stored records.
FROZEN = {
    ("mean", ()): "b6cb1f0726e3",
    ("telea", ()): "f9c8cdfe7aa2",
    ("ns", ()): "24b08aa39dc5",
    ("biharmonic", ()): "61278a3f6947",
    ("patchmatch", ()): "a6327dc88c9d",
    ("telea", (("radius", "3"),)): "b605ffdd1e05",
    ("patchmatch", (("seed", "1"), ("patch_size", "7"))): "79e460022353",
}

# Methods whose constructor needs a file: the fingerprint of an instance with fixed options (what the
# constructor stores: the path as given and the file's sha256).
FROZEN_FILE_METHODS = {
    ("pconv", (("checkpoint", "runs/quick/last.pt"), ("checkpoint_sha256", "0" * 64))): "7dfdf6c78311",
    ("conv", (("checkpoint", "runs/quick/last.pt"), ("checkpoint_sha256", "1" * 64))): "dbc401a6500a",
    ("gl", (("checkpoint", ""), ("file_sha256", "2" * 64), ("weights", "gl.t7"))): "6890b3028d42",
    ("gntipt", (("checkpoint", "g.pt"), ("file_sha256", "3" * 64), ("weights", ""))): "1fb16f8db282",
    ("outputs", (("dir", "/data/fills"), ("outputs_sha256", "4" * 16))): "e68de119bdee",
}


@pytest.mark.parametrize(("name", "options"), list(FROZEN))
def test_builtin_fingerprint_frozen(name, options):
    inp = inp_mod.get_inpainter(name, **dict(options))
    assert inp.fingerprint == FROZEN[(name, options)]


@pytest.mark.parametrize(("name", "options"), list(FROZEN_FILE_METHODS))
def test_file_method_fingerprint_frozen(name, options):
    inp_mod.available()
    cls = inp_mod._FACTORIES[name]
    inp = cls.__new__(cls)  # without loading a file: the fingerprint depends on the options alone
    inp.options = dict(options)
    assert inp.fingerprint == FROZEN_FILE_METHODS[(name, options)]


def test_record_key_frozen():
    # The folder name of a method's records: fingerprint + IS network (bench.records.record_key).
    assert record_key("f9c8cdfe7aa2", "none") == "0cad52a13c29"
    assert record_key("ground-truth", "inception-v3-compat") == "45de632e732c"
