"""The pool of device blocks that batched GPU calls reuse (``runtime/device_pool.py``).

The bookkeeping is checked with numba-cuda's real pointer classes over fake blocks, so
that it runs without a GPU; on a GPU every batched CUDA test goes through it too. Under
numba-cuda's simulator those classes cannot be imported, so each check then runs in a
child process without it.
"""

import gc
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from sourcead_runtime import device_pool
from sourcead_runtime.cuda_launch import simulated
from sourcead_runtime.device_pool import DevicePool


class FakeDevice:
    """Hands out fake blocks at distinct addresses; fails when told to."""

    def __init__(self):
        self.allocated = []
        self.fail_next = False

    def allocate(self, nbytes):
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("[CUDA_ERROR_OUT_OF_MEMORY] out of memory")
        address = 4096 * (len(self.allocated) + 1) << 20
        block = SimpleNamespace(gpu_data=SimpleNamespace(context=None, device_pointer=address))
        self.allocated.append((nbytes, block))
        return block


def make_pool(keep_bytes=1 << 20):
    device = FakeDevice()
    return DevicePool(device.allocate, device_pool._wrap, keep_bytes), device


def address(pointer) -> int:
    return pointer.device_ctypes_pointer.value


def check_a_block_is_reused_once_its_pointer_is_dropped():
    pool, device = make_pool()
    first = pool.take(1024)
    where = address(first)
    del first
    gc.collect()
    assert pool.kept == 1024
    second = pool.take(1024)
    assert address(second) == where and len(device.allocated) == 1
    assert pool.kept == 0


def check_a_block_stays_in_use_while_a_view_of_it_lives():
    pool, device = make_pool()
    whole = pool.take(1024)
    view = whole.view(256, 512)  # what an array carved from the block holds
    del whole
    gc.collect()
    assert pool.kept == 0
    other = pool.take(1024)  # must not be the block the view points into
    assert len(device.allocated) == 2
    assert not (address(other) <= address(view) < address(other) + 1024)
    del view
    gc.collect()
    assert pool.kept == 1024


def check_blocks_of_other_sizes_are_not_reused():
    pool, device = make_pool()
    pointer = pool.take(1024)
    del pointer
    gc.collect()
    kept = pool.take(2048)
    assert len(device.allocated) == 2 and pool.kept == 1024
    del kept


def check_the_pool_keeps_at_most_its_limits():
    pool, _ = make_pool(keep_bytes=3000)
    pointers = [pool.take(1024) for _ in range(4)]
    del pointers
    gc.collect()
    # two per size at most, and never more than keep_bytes in all
    assert pool.kept == 2 * 1024
    small = [pool.take(1000) for _ in range(2)]
    del small
    gc.collect()
    assert pool.kept <= 3000


def check_out_of_memory_frees_the_kept_blocks_and_tries_again():
    flushed = []
    flush = device_pool._flush_numba_frees
    device_pool._flush_numba_frees = lambda: flushed.append(True)  # no context to flush
    try:
        pool, device = make_pool()
        pointer = pool.take(1024)
        del pointer
        gc.collect()
        device.fail_next = True
        bigger = pool.take(4096)
        assert flushed == [True] and pool.kept == 0 and address(bigger)
    finally:
        device_pool._flush_numba_frees = flush


def check_out_of_memory_with_nothing_kept_reaches_the_caller():
    pool, device = make_pool()
    device.fail_next = True
    with pytest.raises(RuntimeError, match="OUT_OF_MEMORY"):
        pool.take(1024)


CHECKS = sorted(name for name in list(globals()) if name.startswith("check_"))


@pytest.mark.parametrize("check", CHECKS)
def test_pool(check):
    # imported here: the child process imports this module as tests.test_device_pool
    from build_support import numba_cuda_installed

    if not numba_cuda_installed():
        pytest.skip(
            "numba-cuda is not installed (pip install -e '.[cuda]'); these checks use its "
            "pointer classes, which differ in the numba.cuda bundled with Numba"
        )
    if not simulated():
        globals()[check]()
        return
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = f"import tests.test_device_pool as t; t.{check}()"
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
