#!/usr/bin/env bash
# Builds bench/torch_caching_replay.cpp against the PyTorch that `python3` imports, into
# DEST/libgpumem_torch_caching.so, for `bench/gpu_allocators --torch-caching` (PyTorch's CUDA
# caching allocator beside gpumem's, same traces, one run). Needs g++ and the CUDA headers
# (CUDA_HOME; default: above nvcc's bin folder, else /usr/local/cuda); gpumem's own build never needs PyTorch.
#
#   scripts/build-torch-bench.sh .device/torch
#   ./build/bench/gpu_allocators --traces bench/traces --torch-caching .device/torch/libgpumem_torch_caching.so
set -euo pipefail

dest=${1:-build/torch-bench}
here=$(cd "$(dirname "$0")/.." && pwd)
torch_dir=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
torch_version=$(python3 -c 'import torch; print(torch.__version__)')
abi=$(python3 -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))')
nvcc=$(command -v nvcc || true)
cuda_home=${CUDA_HOME:-$([[ -n $nvcc ]] && dirname "$(dirname "$nvcc")" || echo /usr/local/cuda)}
[[ -f $cuda_home/include/cuda_runtime_api.h ]] || {
  echo "build-torch-bench: no CUDA headers under $cuda_home (set CUDA_HOME)" >&2; exit 1; }
mkdir -p "$dest"
# -Wl,-rpath: the library finds PyTorch's libc10 and libc10_cuda where torch installed them.
g++ -std=c++17 -O2 -fPIC -shared -fvisibility=hidden -D_GLIBCXX_USE_CXX11_ABI="$abi" \
  -DGPUMEM_TORCH_VERSION="\"$torch_version\"" \
  -isystem "$torch_dir/include" -isystem "$cuda_home/include" \
  "$here/bench/torch_caching_replay.cpp" -o "$dest/libgpumem_torch_caching.so" \
  -L"$torch_dir/lib" -Wl,-rpath,"$torch_dir/lib" -lc10_cuda -lc10
echo "built $dest/libgpumem_torch_caching.so (PyTorch $torch_version from $torch_dir)"
