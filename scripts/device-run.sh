#!/usr/bin/env bash
# One batch on a GPU machine, from the repository root with .device/ holding the built binaries
# (gpumem, test and bench programs, the torch plug-in, train_small.py, traces/, kodak/, lib/ with
# the shared libraries the build machine linked): every test binary, the CLI, CPU and GPU
# benchmarks, the PyTorch plug-in. Writes at most 8 files to $OUT. Figures: docs/PERFORMANCE.md.
D=$PWD/.device
export LD_LIBRARY_PATH=$D/lib
mkdir -p /work && ln -sfn "$PWD" /work/main
mkdir -p /tmp/icd; echo libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd; export OCL_ICD_VENDORS=/tmp/icd
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
{ nvidia-smi -L; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; lscpu | grep -E "Model name|^CPU\(s\)"; } > "$OUT/machine.txt" 2>&1
{ for t in core alloc backend memory tools texture transfer; do
    echo "=== $t"; timeout 300 $D/gpumem_${t}_tests --gtest_brief=1 2>&1 | grep -vE "^\[ +OK|^\[ RUN" | tail -40; echo "$t exit ${PIPESTATUS[0]}"
  done; } > "$OUT/tests.txt" 2>&1
{ $D/gpumem info; $D/gpumem demo; } > "$OUT/cli.txt" 2>&1
{ for a in pool arena; do for m in "" --manager; do
    $D/gpumem replay $m --allocator $a --json churn200k $D/traces/*.trace.gz; done; done
  $D/gpumem replay --allocator direct --json churn200k $D/traces/*.trace.gz
} > "$OUT/replay.jsonl" 2>&1
timeout 300 $D/gpu_allocators --traces $D/traces --repeat 3 > "$OUT/gpu_allocators.txt" 2>&1
{ for mode in "" --torch; do timeout 120 python3 $D/train_small.py $D/libgpumem_torch_alloc.so --steps 30 $mode 2>&1 | tail -15; done; } > "$OUT/train.txt" 2>&1
{ $D/core_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
  $D/alloc_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
  $D/replay_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
  $D/transfer_bench --benchmark_counters_tabular=true  # GPU cases too, where CUDA or Vulkan is
  OMP_NUM_THREADS=1 $D/bc_bench --images $D/kodak --reps 2 --threads 8; } > "$OUT/bench_cpu.txt" 2>&1
echo done
