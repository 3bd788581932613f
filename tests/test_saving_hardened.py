"""Loading a file that lies, and saving next to what is already there: a checksum catches a
flipped byte; stated sizes are checked before anything is allocated; a config asking for more
weights than the file holds fails first; optimizer state goes name by name; a killed save's
temp files go at the next save; symlinks and permissions are kept; malformed configs are
WeightsFileErrors naming the file, never raw json or Python errors."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tape
from tape import saving
from tape.layers import Dense, Input
from tape.models import Sequential, load_model
from tape.saving import WeightsFileError

ROOT = Path(__file__).resolve().parents[1]


def small_model(units=3, seed=0):
    tape.random.seed(seed)
    model = Sequential([Input(shape=(4,)), Dense(units, activation="relu"), Dense(2)])
    model.compile(tape.optimizers.Adam(0.01), "mse")
    x = np.random.default_rng(seed).normal(size=(8, 4)).astype(np.float32)
    model.fit(x, np.zeros((8, 2), np.float32), epochs=1, batch_size=4, verbose=0)
    return model


def rewrite(path, tensors=None, **metadata):
    """The file at ``path`` with some tensors or metadata replaced, written by tape itself
    (so its checksum is right and the guard under test is the one that fires)."""
    old_tensors, old_metadata = saving.read_file(path)
    saving.write_file(path, {**old_tensors, **(tensors or {})}, {**old_metadata, **metadata})


# ---- checksum ----------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_a_flipped_byte_in_the_weights_is_an_error_naming_the_file(tmp_path, suffix):
    model = small_model()
    path = tmp_path / f"m{suffix}"
    model.save(str(path))
    data = bytearray(path.read_bytes())
    at = data.find(model.weights[0].numpy().tobytes()[:16])  # inside the first kernel
    assert at > 0
    data[at + 5] ^= 0x04  # one bit of one float: still a valid float, silently loaded before
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsFileError, match=rf"{path.name}.*(corrupt|CRC)") as e:
        load_model(str(path))
    assert "test_saving_hardened.py" in str(e.value)  # the user's line
    with pytest.raises(WeightsFileError, match="corrupt|CRC"):
        model.load_weights(str(path))


def test_changed_metadata_fails_the_checksum(tmp_path):
    from safetensors.numpy import save

    model = small_model()
    path = tmp_path / "m.safetensors"
    model.save(str(path))
    tensors, metadata = saving.read_file(path)
    metadata["config"] = metadata["config"].replace('"units": 3', '"units": 3 ')  # same JSON
    path.write_bytes(save(tensors, metadata=metadata))  # keeps the old checksum
    with pytest.raises(WeightsFileError, match="corrupt.*checksum"):
        load_model(str(path))


def test_files_written_before_the_checksum_still_load(tmp_path):
    from safetensors.numpy import save

    model = small_model()
    path = tmp_path / "m.safetensors"
    model.save(str(path))
    tensors, metadata = saving.read_file(path)
    del metadata["checksum"]
    path.write_bytes(save(tensors, metadata=metadata))
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(load_model(str(path)).predict(x, verbose=0),
                                  model.predict(x, verbose=0))


# ---- sizes before allocation ---------------------------------------------------------------

def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("units", [12_000, 10_000_000])
def test_a_config_asking_for_more_weights_than_the_file_holds_allocates_nothing(tmp_path,
                                                                                  units):
    # a 5 KB file with units=12000 made the loader allocate 1.6 GB; with 1e7 a MemoryError
    model = small_model()
    path = tmp_path / "m.safetensors"
    model.save(str(path))
    config = json.loads(saving.read_file(path)[1]["config"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Dense":
            layer["config"]["units"] = units
    rewrite(path, config=json.dumps(config))
    assert path.stat().st_size < 20_000

    def load():
        with pytest.raises(WeightsFileError, match=rf"{path.name}.*asks for weight .* beyond "
                                                   r"the \d+ weight numbers the file holds"):
            load_model(str(path))

    assert _peak_bytes(load) < 4_000_000  # a 4 MB bound; the first kernel alone is 4*4*units


def test_an_npz_member_whose_header_states_more_than_it_holds_is_refused(tmp_path):
    model = small_model()
    path = tmp_path / "w.npz"
    model.save_weights(str(path))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (10**9,)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("model/99999.npy", header.getvalue() + b"\0" * 16)

    def load():
        with pytest.raises(WeightsFileError, match=r"w\.npz.*states float32 \(1000000000,\)"):
            model.load_weights(str(path))

    assert _peak_bytes(load) < 4_000_000


def test_a_compressed_npz_member_is_refused(tmp_path):
    model = small_model()
    path = tmp_path / "w.npz"
    tensors, metadata = saving.read_file(_saved(model, tmp_path / "ok.npz", weights=True))
    np.savez_compressed(path, **tensors, __metadata__=np.array(json.dumps(metadata)))
    with pytest.raises(WeightsFileError, match="uncompressed"):
        model.load_weights(str(path))


def _saved(model, path, weights=False):
    (model.save_weights if weights else model.save)(str(path))
    return path


# ---- optimizer state -----------------------------------------------------------------------

def test_optimizer_state_that_does_not_match_by_name_is_an_error(tmp_path):
    model = small_model()
    path = _saved(model, tmp_path / "m.safetensors")
    names = json.loads(saving.read_file(path)[1]["optimizer_variables"])
    rewrite(path, optimizer_variables=json.dumps(names[:-1]))  # one name short: zip cut it
    with pytest.raises(WeightsFileError, match="optimizer state has .* values named"):
        load_model(str(path))
    swapped = names[:]
    swapped[-1], swapped[-2] = swapped[-2], swapped[-1]  # same shapes, other variables
    rewrite(path, optimizer_variables=json.dumps(swapped))
    with pytest.raises(WeightsFileError, match="optimizer state"):
        load_model(str(path))


# ---- malformed configs ---------------------------------------------------------------------

@pytest.mark.parametrize("config,kind", [
    ("{not json", "JSONDecodeError"),
    ("[" * 100_000 + "]" * 100_000, "RecursionError"),
    ("[1, 2]", "TypeError"),
    ('{"class_name": "Dense", "config": 5}', "TypeError"),
    ('{"class_name": "Sequential", "config": {"layers": 5}}', "TypeError"),
    ('{"class_name": ["Dense"], "config": {}}', "TypeError"),
])
def test_malformed_configs_are_errors_naming_the_file(tmp_path, config, kind):
    path = _saved(small_model(), tmp_path / "m.safetensors")
    rewrite(path, config=config)
    with pytest.raises(WeightsFileError, match=rf"m\.safetensors: cannot rebuild the model "
                                               rf"from the file's metadata \({kind}"):
        load_model(str(path))


@pytest.mark.parametrize("key,value", [("optimizer", "{oops"), ("optimizer", "[1]"),
                                       ("compile", "{oops"), ("optimizer_variables", "{")])
def test_malformed_compile_metadata_is_an_error_naming_the_file(tmp_path, key, value):
    path = _saved(small_model(), tmp_path / "m.safetensors")
    rewrite(path, **{key: value})
    with pytest.raises(WeightsFileError, match=r"m\.safetensors: cannot rebuild"):
        load_model(str(path))


# ---- temp files, symlinks, permissions -------------------------------------------------------

def test_a_killed_saves_temp_files_are_removed_by_the_next_save_of_that_target(tmp_path):
    target = tmp_path / "m.safetensors"
    # A child process dies between writing its temp file and renaming it (as a kill would).
    child = (f"import os, sys; sys.path.insert(0, {str(ROOT)!r}); import numpy as np; "
             "from tape import saving; os.replace = lambda *a: os._exit(9); "
             f"saving.write_file({str(target)!r}, {{'a': np.ones(1000)}}, "
             "{'tape_format': 'weights'})")
    done = subprocess.run([sys.executable, "-c", child], env={**os.environ,
                          "JAX_PLATFORMS": "cpu"}, capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr[-2000:]
    stale = [p.name for p in tmp_path.iterdir()]
    assert len(stale) == 1 and stale[0].startswith(".m.safetensors.") and \
        stale[0].endswith(".tmp")
    alive = tmp_path / f".m.safetensors.{os.getppid()}.0123abcd.tmp"  # a save in progress
    alive.write_bytes(b"partial")
    other_temp = tmp_path / ".other.safetensors.999999999.0123abcd.tmp"  # another target's
    other_temp.write_bytes(b"partial")
    small_model().save_weights(str(target))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([target.name, alive.name, other_temp.name]), left


def test_saving_over_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "store" / "weights.safetensors"
    real.parent.mkdir()
    link = tmp_path / "latest.safetensors"
    first, second = small_model(seed=0), small_model(seed=1)
    first.save_weights(str(real))
    link.symlink_to(real)
    second.save_weights(str(link))
    assert link.is_symlink() and os.readlink(link) == str(real)
    first.load_weights(str(real))
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in real.parent.iterdir()) == ["weights.safetensors"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o664])
def test_an_existing_files_mode_is_kept(tmp_path, mode):
    path = tmp_path / "m.safetensors"
    model = small_model()
    model.save(str(path))
    os.chmod(path, mode)
    model.save(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_new_file_gets_the_umasks_mode_as_open_gives(tmp_path):
    umask = os.umask(0o022)
    try:
        small_model().save_weights(str(tmp_path / "w.safetensors"))
        (tmp_path / "plain").write_bytes(b"")  # what open() makes under the same umask
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "w.safetensors").stat().st_mode) == \
        stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o644


def test_saving_into_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"folder .*no-such.* does not exist.*"
                                                r"test_saving_hardened.py"):
        small_model().save(str(tmp_path / "no-such" / "m.safetensors"))
