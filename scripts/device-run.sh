#!/usr/bin/env bash
# One batch on a GPU machine, from the repository root with .device/bundle/ filled by
# scripts/device-bundle.sh and .gl/ holding the Debian packages of the Vulkan loader and validation
# layers (the GPU image has NVIDIA's Vulkan driver but neither): every test binary, the CLI, CPU and GPU
# benchmarks (PyTorch's caching allocator built there by scripts/build-torch-bench.sh when torch
# imports), the CUDA tests under compute-sanitizer memcheck, the PyTorch plug-in and the CuPy
# example. Figures: docs/PERFORMANCE.md.
D=$PWD/.device/bundle
export LD_LIBRARY_PATH=$D/lib
mkdir -p /work && ln -sfn "$PWD" /work/main
mkdir -p build && ln -sfn "$D/gpumem" build/gpumem  # where the tools tests run the CLI from
export GPUMEM_TORCH_PLUGIN=$D/libgpumem_torch_alloc.so  # for the memory tests
mkdir -p /tmp/icd; echo libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd; export OCL_ICD_VENDORS=/tmp/icd
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if compgen -G ".gl/*.deb" > /dev/null; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
# Sections to run, in order (all when none is named), each into $OUT/<section>.txt: tests replay
# gpu sanitizer python cpu_bench transfer_bench bc_bench (the device tool brings back 8 files).
sections=("$@")
[[ ${#sections[@]} -eq 0 ]] && sections=(tests replay gpu sanitizer python cpu_bench transfer_bench bc_bench)

tests() {
  $D/gpumem info; $D/gpumem demo
  for t in $D/gpumem_*_tests; do
    echo "=== $t"; timeout 300 $t --gtest_brief=1 2>&1 | grep -vE "^\[ +OK|^\[ RUN" | tail -40; echo "$t exit ${PIPESTATUS[0]}"
  done
}
replay() {
  for a in pool arena; do for m in "" --manager; do
    $D/gpumem replay $m --allocator $a --json churn200k $D/traces/*.trace.gz; done; done
  $D/gpumem replay --allocator direct --json churn200k $D/traces/*.trace.gz
}
gpu() {
  local torch_caching=()
  scripts/build-torch-bench.sh $D/torch && torch_caching=(--torch-caching $D/torch/libgpumem_torch_caching.so)
  timeout 300 $D/gpu_allocators --traces $D/traces --repeat 3 "${torch_caching[@]}"
}
# The CUDA cases only. Left out: the device-filling ones (memcheck's own allocations change what
# fits, and they would take minutes under it); the one that makes cudaMalloc fail on purpose runs
# on its own without API error reports (memcheck counts the intended failure as an error).
sanitizer() {
  local memcheck=(compute-sanitizer --tool memcheck --leak-check full --error-exitcode 3)
  for t in backend memory transfer; do
    echo "=== $t"
    timeout 300 "${memcheck[@]}" $D/gpumem_${t}_tests \
      --gtest_filter='Cuda*:*/cuda:-*Fill*:*MoreThanIsFree*' --gtest_brief=1 2>&1 | tail -30
    echo "$t exit ${PIPESTATUS[0]}"
  done
  echo "=== backend, failing cudaMalloc on purpose"
  timeout 120 "${memcheck[@]}" --report-api-errors no $D/gpumem_backend_tests \
    --gtest_filter='*MoreThanIsFree*' --gtest_brief=1 2>&1 | tail -10
  echo "exit ${PIPESTATUS[0]}"
}
python() {
  # 500 steps, the allocators alternating three times: the first few dozen steps are warm-up
  # (cuBLAS, the caches filling), and the shared machine's speed drifts between runs.
  for round in 1 2 3; do for mode in "" --torch; do
    timeout 120 python3 $D/train_small.py $D/libgpumem_torch_alloc.so --steps 500 $mode 2>&1 | tail -3
  done; done
  timeout 120 python3 examples/cupy/cupy_on_gpumem.py $D/libgpumem_torch_alloc.so; echo "cupy example exit $?"
}
cpu_bench() {
  $D/core_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
  $D/alloc_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
  $D/replay_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
}
transfer_bench() { $D/transfer_bench --benchmark_counters_tabular=true; }  # GPU cases where CUDA or Vulkan is
bc_bench() {
  OMP_NUM_THREADS=1 $D/bc_bench --images $D/kodak --reps 2 --threads 8
}

nvidia-smi -L; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; lscpu | grep -E "Model name|^CPU\(s\)"
for section in "${sections[@]}"; do
  echo "== $section $(date +%T)"
  "$section" > "$OUT/$section.txt" 2>&1
done
echo done
