#!/usr/bin/env bash
# Packs what a GPU machine needs to run gpumem's CUDA tests, bench/gpu_allocators and the PyTorch
# example from a build made here (static CUDA runtime), and prints the command to run there.
#
#   scripts/gpu-bundle.sh build .device/gpu     # then carry .device/gpu to the GPU machine
#
# The bundle holds the binaries, the shared libraries they need that a CUDA image may lack (fmt),
# the traces and the example, and a run.sh that writes its logs to $OUT (or ./gpu-out).
set -euo pipefail

build=${1:-build}
dest=${2:-.device/gpu}
rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/lib" "$dest/traces"
cp "$build/tests/gpumem_backend_tests" "$build/tests/gpumem_memory_tests" \
   "$build/bench/gpu_allocators" "$build/plugins/libgpumem_torch_alloc.so" "$dest/bin/"
for lib in $(ldd "$dest"/bin/* | awk '/libfmt/ {print $3}' | sort -u); do cp -L "$lib" "$dest/lib/"; done
cp bench/traces/*.trace.gz "$dest/traces/"
cp examples/pytorch/train_small.py "$dest/"
cat > "$dest/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs from the bundle's folder: CUDA tests, the allocator comparison, the PyTorch example.
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/gpu-out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
nvidia-smi -L
timeout 120 "$here/bin/gpumem_backend_tests" --gtest_filter='Cuda*' >"$out/backend_tests.txt" 2>&1
echo "backend tests: rc=$?"; grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$out/backend_tests.txt"
timeout 120 "$here/bin/gpumem_memory_tests" --gtest_filter='*Stream*' >"$out/memory_tests.txt" 2>&1
echo "memory tests: rc=$?"; grep -E '^\[  (PASSED|FAILED|SKIPPED) |Failure' "$out/memory_tests.txt"
timeout 240 "$here/bin/gpu_allocators" --traces "$here/traces" --repeat "${REPEAT:-3}" \
  2>&1 | tee "$out/gpu_allocators.txt"
if python3 -c 'import torch' 2>/dev/null; then
  for mode in "" --torch; do
    timeout 120 python3 "$here/train_small.py" "$here/bin/libgpumem_torch_alloc.so" --steps 30 $mode \
      2>&1 | tee -a "$out/train_small.txt"
  done
fi
RUN
chmod +x "$dest/run.sh"
du -sh "$dest"
echo "run there: bash $dest/run.sh"
