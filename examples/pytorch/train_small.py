"""Trains a small model with PyTorch on gpumem's stream-ordered allocator and prints gpumem's
figures next to the loss.

    python3 examples/pytorch/train_small.py build/plugins/libgpumem_torch_alloc.so [--steps 50]

The three lines that put a PyTorch program on gpumem are marked below; they must run before the
program's first CUDA allocation. Pass --torch to train on PyTorch's own allocator instead (same
seed, so the losses can be compared).
"""

import argparse
import ctypes
import json
import time

import torch


def gpumem_stats(lib, device=0):
    buf = ctypes.create_string_buffer(1 << 16)
    n = lib.gpumem_stats_json(device, buf, len(buf))
    return json.loads(buf.value.decode()) if n >= 0 else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("library", help="path to libgpumem_torch_alloc.so")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--torch", action="store_true", help="use PyTorch's own allocator")
    args = parser.parse_args()

    lib = None
    if not args.torch:
        # --- the three lines ---
        allocator = torch.cuda.memory.CUDAPluggableAllocator(
            args.library, "gpumem_malloc", "gpumem_free")
        torch.cuda.memory.change_current_allocator(allocator)
        # -----------------------
        lib = ctypes.CDLL(args.library)
        lib.gpumem_stats_json.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_ulong]
        lib.gpumem_stats_json.restype = ctypes.c_long

    torch.manual_seed(0)
    device = torch.device("cuda")
    model = torch.nn.Sequential(
        torch.nn.Linear(1024, 4096), torch.nn.GELU(),
        torch.nn.Linear(4096, 4096), torch.nn.GELU(),
        torch.nn.Linear(4096, 10)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    inputs = torch.randn(512, 1024, device=device)
    labels = torch.randint(0, 10, (512,), device=device)

    torch.cuda.synchronize()
    start = time.perf_counter()
    for step in range(args.steps):
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        if step % 10 == 0 or step == args.steps - 1:
            print(f"step {step:3d} loss {loss.item():.6f}")
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    print(f"allocator {'pytorch' if args.torch else 'gpumem'}: "
          f"{1e3 * elapsed / args.steps:.2f} ms/step, final loss {loss.item():.6f}")
    if lib is not None:
        print("gpumem:", json.dumps(gpumem_stats(lib), indent=None))
    else:
        print(f"pytorch: peak reserved {torch.cuda.max_memory_reserved()} "
              f"peak allocated {torch.cuda.max_memory_allocated()}")


if __name__ == "__main__":
    main()
