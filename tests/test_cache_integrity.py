"""The persistent cache runs only what sourcead wrote, and heals itself.

A damaged entry (edited, cut short, empty, or without its function) and a damaged file of
Numba's cache are misses: made anew, with one warning. A cache directory that belongs to
someone else or that others can write is not loaded from, and one that cannot be written (a
full disk) is not written to: the derivative is made in memory, with one warning. In every
case the gradient is right and no error of the cache reaches the caller.

Each test drives one process as two: ``new_process`` forgets the modules this process
loaded from the cache, as a new process would not have them.
"""

import errno
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import pytest

import sourcead
from sourcead.aot import native_tier
from sourcead.cache import modules as cache
from sourcead.cache import records as native_cache

SOURCE = "def f(x):\n    return x * x + 1.0\n"
X, GRADIENT = 3.0, 6.0


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    """A fresh, not yet created, cache directory for this test."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("SOURCEAD_CACHE_DIR", str(directory))
    monkeypatch.delenv("SOURCEAD_CACHE", raising=False)
    monkeypatch.delenv("SOURCEAD_NATIVE_CACHE", raising=False)
    monkeypatch.setattr(cache, "_WARNED", set())
    return directory


@pytest.fixture
def user(tmp_path, request):
    """A module of its own holding ``f``: its own file, so its own cache key."""
    name = "integrity_" + "".join(c if c.isalnum() else "_" for c in request.node.name)
    path = tmp_path / f"{name}.py"
    path.write_text(SOURCE)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def new_process(monkeypatch) -> None:
    """Forget the modules loaded from the cache and the warnings given, as a new process."""
    for name in [name for name in sys.modules if name.startswith("sourcead_cache_")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(native_cache, "_NATIVE_MODULES", {})
    monkeypatch.setattr(cache, "_WARNED", set())


def gradient_and_warnings(module, **options) -> tuple[float, list[str]]:
    """``grad(f)(X)`` and the warnings of sourcead it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = sourcead.grad(module.f, **options)(X)
    return value, [str(w.message) for w in caught if str(w.message).startswith("sourcead")]


def the_entry(store: Path) -> Path:
    (entry,) = store.glob("*.py")
    return entry


def key_of(entry: Path) -> str:
    first = entry.read_text().partition("\n")[0]
    return json.loads(first[len(cache._MARKER) :])["key"]


def assert_one_warning(messages: list[str], store: Path, *words: str) -> None:
    assert len(messages) == 1, messages
    for word in (str(store), *words):
        assert word in messages[0], messages[0]


# --- damaged entries ---------------------------------------------------------------------------
def check_damaged_entry_is_made_anew(store, user, monkeypatch, damage) -> None:
    """Fill the cache, ``damage(entry)``, then in a new process: the right gradient, one
    warning, and the entry back as it was (and used quietly by the next process)."""
    assert gradient_and_warnings(user) == (GRADIENT, [])
    entry = the_entry(store)
    good = entry.read_text()
    damage(entry)
    new_process(monkeypatch)
    value, messages = gradient_and_warnings(user)
    assert value == GRADIENT
    assert_one_warning(messages, store, "damaged", "sourcead cache clear")
    assert entry.read_text() == good and cache.read_entry(entry, key_of(entry)) is not None
    new_process(monkeypatch)
    assert gradient_and_warnings(user) == (GRADIENT, [])


def test_tampered_entry_is_made_anew(store, user, monkeypatch):
    def tamper(entry):  # still valid code, with a wrong derivative
        text = entry.read_text()
        assert "return result, (b_x,)" in text
        entry.write_text(text.replace("return result, (b_x,)", "return result, (b_x + 100.0,)"))

    check_damaged_entry_is_made_anew(store, user, monkeypatch, tamper)


def test_truncated_entry_is_made_anew(store, user, monkeypatch):
    def truncate(entry):
        data = entry.read_bytes()
        entry.write_bytes(data[: len(data) // 2])

    check_damaged_entry_is_made_anew(store, user, monkeypatch, truncate)


def test_empty_entry_is_made_anew(store, user, monkeypatch):
    check_damaged_entry_is_made_anew(store, user, monkeypatch, lambda entry: entry.write_text(""))


def test_entry_without_its_function_is_made_anew(store, user, monkeypatch):
    """An entry whose hash holds but whose code lacks the entry function (or fails to
    import), as a faulty writer could leave it."""

    def hollow(entry):
        _, header = cache.read_entry(entry)
        cache.write_entry(entry, "x = 1\n", header, key_of(entry), replace=True)
        assert cache.read_entry(entry) is not None  # the hash itself is right

    check_damaged_entry_is_made_anew(store, user, monkeypatch, hollow)


# --- Numba's cache -----------------------------------------------------------------------------
def _numba_hits(entry: Path) -> int:
    function = sys.modules[f"sourcead_cache_{entry.stem}"].f_adjoint
    return sum(function.stats.cache_hits.values())


@pytest.mark.parametrize("suffix, damaged", [("nbi", b""), ("nbc", b"not a pickle")])
def test_damaged_numba_cache_file_is_a_miss(store, user, monkeypatch, suffix, damaged):
    assert gradient_and_warnings(user) == (GRADIENT, [])
    (numba_file,) = (store / "__pycache__").glob(f"*.{suffix}")
    numba_file.write_bytes(damaged)
    new_process(monkeypatch)
    value, messages = gradient_and_warnings(user)
    assert value == GRADIENT
    assert_one_warning(messages, store, "damaged", "Numba", "sourcead cache clear")
    assert numba_file.read_bytes() != damaged  # written anew by Numba's save
    new_process(monkeypatch)
    assert gradient_and_warnings(user) == (GRADIENT, [])
    assert _numba_hits(the_entry(store)) == 1  # the machine code loads from the cache again


# --- directories not to be trusted -------------------------------------------------------------
def plant_valid_entry(store: Path, user) -> Path:
    """Fill the cache, then replace the entry by one with a wrong derivative but a right
    hash: anyone who can write the directory can write such a file."""
    assert gradient_and_warnings(user) == (GRADIENT, [])
    entry = the_entry(store)
    source, header = cache.read_entry(entry)
    evil = source.replace("return result, (b_x,)", "return result, (b_x + 100.0,)")
    assert evil != source
    assert cache.write_entry(entry, evil, header, key_of(entry), replace=True)
    return entry


def check_not_loaded_from(store, user, monkeypatch, entry, *words) -> None:
    planted = entry.read_text()
    new_process(monkeypatch)
    value, messages = gradient_and_warnings(user)
    assert value == GRADIENT  # not the planted code's
    assert_one_warning(messages, store, "does not load code", *words)
    assert entry.read_text() == planted  # nothing written there either


def test_foreign_owned_directory_is_not_loaded_from(store, user, monkeypatch):
    entry = plant_valid_entry(store, user)
    if os.geteuid() == 0:
        os.chown(store, 4242, 4242)  # as if made by another user
        words = ("user id 4242",)
    else:  # cannot give it away: become, for sourcead, another user than its owner
        owner = store.stat().st_uid
        monkeypatch.setattr(os, "getuid", lambda: owner + 1)
        words = (f"user id {owner}",)
    check_not_loaded_from(store, user, monkeypatch, entry, "belongs to", *words)


@pytest.mark.parametrize("mode", [0o770, 0o702], ids=["group", "world"])
def test_group_or_world_writable_directory_is_not_loaded_from(store, user, monkeypatch, mode):
    entry = plant_valid_entry(store, user)
    store.chmod(mode)
    check_not_loaded_from(store, user, monkeypatch, entry, "writable by others", f"{mode:o}")


def test_cache_directories_are_made_private(tmp_path, monkeypatch, user):
    store = tmp_path / "cache" / "deeper"  # missing parents are made private too
    monkeypatch.setenv("SOURCEAD_CACHE_DIR", str(store))
    monkeypatch.setattr(cache, "_WARNED", set())
    assert gradient_and_warnings(user) == (GRADIENT, [])
    folders = [store.parent, store, store / "__pycache__", store / "native"]
    folders += [path for path in (store / "native").rglob("*") if path.is_dir()]
    assert len(folders) == 5  # the native tier's record folder too
    for folder in folders:
        assert folder.stat().st_mode & 0o777 == 0o700, folder


# --- full disks --------------------------------------------------------------------------------
def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_at_the_entry_write_runs_uncached(store, user, monkeypatch):
    monkeypatch.setattr(cache, "write_atomically", no_space)
    value, messages = gradient_and_warnings(user)
    assert value == GRADIENT
    assert_one_warning(messages, store, "cannot write its cache", "No space left")
    assert list(store.glob("*.py")) == []


def test_failed_numba_cache_save_runs_uncached(store, user, monkeypatch):
    from numba.core import caching

    monkeypatch.setattr(caching.IndexDataCacheFile, "save", no_space)
    value, messages = gradient_and_warnings(user)
    assert value == GRADIENT
    assert_one_warning(messages, store, "cannot write its cache", "No space left")
    assert list((store / "__pycache__").glob("*.nb*")) == []


@pytest.fixture
def full_tmpfs(tmp_path):
    """A tiny tmpfs, filled up (needs root and the `mount` command; skipped otherwise)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (mount / "cache").mkdir(mode=0o700)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def fill(mount: Path) -> None:
    with (mount / "filler").open("ab", buffering=0) as stream:
        try:
            while True:
                stream.write(b"\0" * 1024)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_full_tmpfs_runs_uncached(full_tmpfs, user, monkeypatch):
    """A real full disk: the entry cannot be written; later, with the entry written before
    the disk filled up, Numba's machine code cannot be."""
    store = full_tmpfs / "cache"
    monkeypatch.setenv("SOURCEAD_CACHE_DIR", str(store))
    monkeypatch.setattr(cache, "_WARNED", set())
    assert gradient_and_warnings(user, compile=False) == (GRADIENT, [])  # the entry only
    fill(full_tmpfs)
    new_process(monkeypatch)
    value, messages = gradient_and_warnings(user)
    assert value == GRADIENT
    assert_one_warning(messages, store, "cannot write its cache", "No space left")
    assert list((store / "__pycache__").glob("*.nb*")) == []

    for entry in store.glob("*.py"):
        entry.unlink()
    fill(full_tmpfs)  # again: the entry's page is free now
    new_process(monkeypatch)
    value, messages = gradient_and_warnings(user)
    assert value == GRADIENT
    assert_one_warning(messages, store, "cannot write its cache", "No space left")
    assert list(store.glob("*.py")) == []


# --- the native tier ---------------------------------------------------------------------------
_COMPILER = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]


@pytest.mark.skipif(shutil.which(_COMPILER) is None, reason="the native tier needs a C compiler")
@pytest.mark.slow  # a native build (a C compiler): CI's slow group
def test_tampered_native_build_is_not_run_and_is_built_again(store, user, monkeypatch):
    assert gradient_and_warnings(user) == (GRADIENT, [])
    assert [outcome for _, outcome in native_tier.compile_recorded()] == ["compiled"]
    (wrapper,) = store.glob("native/*/*_native.py")
    wrapper.write_text(wrapper.read_text() + WRONG_WRAPPER)  # still loads, with a wrong result
    new_process(monkeypatch)
    value, messages = gradient_and_warnings(user)
    assert value == GRADIENT  # from the cache entry under Numba
    assert_one_warning(messages, store, "damaged", "native build", "sourcead cache clear")
    (record,) = store.glob("native/*/sig-*.json")
    assert json.loads(record.read_text())["native"] is None  # for `cache native` to build again
    assert [outcome for _, outcome in native_tier.compile_recorded()] == ["compiled"]
    new_process(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt = sourcead.grad(user.f)
        assert rebuilt(X) == GRADIENT
    assert rebuilt._last_record["native"] and not caught  # the native build, sound again


WRONG_WRAPPER = """

_sound = f_adjoint


def f_adjoint(*args):
    value, grads = _sound(*args)
    return value, tuple(g + 100.0 for g in grads)
"""
