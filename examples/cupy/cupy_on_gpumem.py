"""Runs a CuPy computation on gpumem's stream-ordered allocator, checks its result against the same
computation on CuPy's own memory pool, and prints gpumem's figures.

    python3 examples/cupy/cupy_on_gpumem.py build/plugins/libgpumem_torch_alloc.so [--rounds 20]

The library is the PyTorch plug-in (plugins/torch): its C functions gpumem_malloc(size, device,
stream) / gpumem_free(ptr, size, device, stream) serve any program, CuPy included. The lines that
put a CuPy program on gpumem are `GpumemAllocator(...)` and `cupy.cuda.set_allocator(...)`
below; they must run before the arrays they should serve are made. Each block is freed on the
stream it was allocated on, as CuPy's own pool does, so a stream that allocated must live as long
as gpumem may reuse its blocks (gpumem keeps stream handles; PyTorch never destroys its streams,
and this program keeps its one side stream for its whole run).

Exit status: 0 when the results match and gpumem holds no live memory afterwards, 1 otherwise,
77 when CuPy or a CUDA device is missing (so test runners can skip).
"""

import argparse
import ctypes
import gc
import json
import sys
import time

try:
    import cupy
except ImportError:
    print("skipped: CuPy is not installed")
    sys.exit(77)


class GpumemAllocator:
    """A `cupy.cuda.set_allocator` function backed by libgpumem_torch_alloc.so."""

    def __init__(self, library):
        self.lib = ctypes.CDLL(library)
        self.lib.gpumem_malloc.argtypes = [ctypes.c_ssize_t, ctypes.c_int, ctypes.c_void_p]
        self.lib.gpumem_malloc.restype = ctypes.c_void_p
        self.lib.gpumem_free.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int,
                                         ctypes.c_void_p]
        self.lib.gpumem_free.restype = None
        self.lib.gpumem_trim.argtypes = []
        self.lib.gpumem_trim.restype = None
        self.lib.gpumem_stats_json.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_ulong]
        self.lib.gpumem_stats_json.restype = ctypes.c_long

    def __call__(self, size):
        device = cupy.cuda.Device().id
        if size == 0:  # gpumem has nothing to give for 0 bytes; CuPy accepts a null pointer
            return cupy.cuda.MemoryPointer(cupy.cuda.UnownedMemory(0, 0, None, device), 0)
        stream = cupy.cuda.get_current_stream().ptr
        ptr = self.lib.gpumem_malloc(size, device, stream)
        if not ptr:  # gpumem printed why on stderr
            raise cupy.cuda.memory.OutOfMemoryError(size, 0, 0)
        # The block goes back to gpumem when CuPy drops its last reference to the memory.
        owner = _Block(self.lib, ptr, size, device, stream)
        memory = cupy.cuda.UnownedMemory(ptr, size, owner, device)
        return cupy.cuda.MemoryPointer(memory, 0)

    def stats(self, device=0):
        buf = ctypes.create_string_buffer(1 << 16)
        n = self.lib.gpumem_stats_json(device, buf, len(buf))
        return json.loads(buf.value.decode()) if n >= 0 else None

    def trim(self):
        self.lib.gpumem_trim()


class _Block:
    """Frees one gpumem block, on the stream it was allocated on, when CuPy lets go of it."""

    __slots__ = ("lib", "ptr", "size", "device", "stream")

    def __init__(self, lib, ptr, size, device, stream):
        self.lib, self.ptr, self.size, self.device, self.stream = lib, ptr, size, device, stream

    def __del__(self):
        self.lib.gpumem_free(self.ptr, self.size, self.device, self.stream)


def compute(rounds, side):
    """A small workload with many temporaries of many sizes, on the current stream and `side`:
    matrix products, element-wise work, reductions. Returns host copies of its results."""
    rng = cupy.random.default_rng(7)
    a = rng.standard_normal((1024, 1024), dtype=cupy.float32)
    b = rng.standard_normal((1024, 1024), dtype=cupy.float32)
    sums = []
    for r in range(rounds):
        c = a @ b
        c = cupy.tanh(c / 32.0) + cupy.sin(a) * 0.5
        n = 1000 + 37 * r
        v = cupy.arange(n * 64, dtype=cupy.float64).reshape(n, 64) / (r + 1)
        with side:  # allocations and frees on another stream
            w = cupy.cumsum(v, axis=0).sum(axis=1)
            side.synchronize()
        sums.append(float(c.sum(dtype=cupy.float64)) + float(w[-1]))
        a = c
    return cupy.asnumpy(a), sums


def run(rounds, side):
    cupy.cuda.Device().synchronize()
    start = time.perf_counter()
    result = compute(rounds, side)
    cupy.cuda.Device().synchronize()
    gc.collect()  # every array of the run released before the figures are read
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("library", help="path to libgpumem_torch_alloc.so")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            raise cupy.cuda.runtime.CUDARuntimeError(100)
    except cupy.cuda.runtime.CUDARuntimeError as e:
        print(f"skipped: no CUDA device ({e})")
        return 77

    side = cupy.cuda.Stream(non_blocking=True)  # lives until the program ends, see above
    # CuPy's own pool first: the reference. One untimed round before, so that compiling CuPy's
    # kernels and making the cuBLAS handle count against neither allocator.
    cupy_pool = cupy.get_default_memory_pool()
    run(1, side)
    cupy_pool.free_all_blocks()
    (want, want_sums), cupy_seconds = run(args.rounds, side)
    cupy_peak = cupy_pool.total_bytes()
    cupy_pool.free_all_blocks()

    # --- the lines that put CuPy on gpumem ---
    gpumem = GpumemAllocator(args.library)
    cupy.cuda.set_allocator(gpumem)
    # -----------------------------------------
    (got, got_sums), gpumem_seconds = run(args.rounds, side)
    cupy.cuda.set_allocator(cupy_pool.malloc)
    stats = gpumem.stats()

    same_array = bool((got == want).all())
    same_sums = got_sums == want_sums
    print(f"rounds {args.rounds}: results {'match' if same_array and same_sums else 'DIFFER'} "
          f"(array {same_array}, sums {same_sums})")
    print(f"cupy pool: {1e3 * cupy_seconds:.1f} ms, pool held {cupy_peak} bytes at the end")
    print(f"gpumem:    {1e3 * gpumem_seconds:.1f} ms")
    print("gpumem stats:", json.dumps(stats))
    gpumem.trim()
    after = gpumem.stats()
    print(f"after trim: live {after['live_bytes']} bytes in {after['live_count']} blocks, "
          f"reserved {after['reserved_bytes']} bytes")
    ok = (same_array and same_sums and stats is not None and after["live_count"] == 0
          and after["reserved_bytes"] == 0 and stats["metrics"] is not None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
