#!/usr/bin/env bash
# Fills .device/bundle/ (git-ignored) with what scripts/device-run.sh needs on a GPU machine, from a build
# made here (static CUDA runtime): the CLI, every test and bench program, the PyTorch plug-in,
# the traces, the Kodak images, the examples, and lib/ with the shared libraries the programs
# link that a bare CUDA image lacks.
#
#   cmake --build build && scripts/device-bundle.sh build
#   # then, with the device tool: carry [".device/bundle", ".gl"], command
#   # "bash scripts/device-run.sh"
#   # (.gl, also git-ignored, gets the Vulkan loader and validation layer packages)
set -euo pipefail

build=${1:-build}
dest=${2:-.device/bundle}
rm -rf "$dest"
mkdir -p "$dest/lib" "$dest/traces" "$dest/kodak"
cp "$build/gpumem" "$build"/tests/gpumem_*_tests "$dest/"
for program in "$build"/bench/*; do
  [[ -f $program && -x $program ]] && cp "$program" "$dest/"
done
cp "$build/plugins/libgpumem_torch_alloc.so" "$dest/" 2>/dev/null || true
# Debug information would take the bundle past what travels (64 MiB); symbols stay for stacks.
strip --strip-debug "$dest"/gpumem "$dest"/gpumem_*_tests "$dest"/*_bench "$dest"/gpu_allocators \
  "$dest"/*.so 2>/dev/null || true
# Only libraries that a CUDA image does not bring (libc, libstdc++, libm and friends it does).
ldd "$dest"/gpumem "$dest"/gpumem_*_tests "$dest"/*_bench "$dest"/gpu_allocators 2>/dev/null |
  awk '/=> \// {print $3}' | sort -u |
  grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$dest/lib/"; done
cp bench/traces/*.trace.gz "$dest/traces/"
cp ../shared/images/kodak/kodim{01,02,03,04,05,06,07,08,09,10,11,12}.png "$dest/kodak/"
cp examples/pytorch/train_small.py "$dest/"
du -sh "$dest"

# The Vulkan loader and validation layers, as Debian packages device-run.sh unpacks there.
if ! compgen -G ".gl/*.deb" > /dev/null; then
  mkdir -p .gl /tmp/amd64/partial
  apt_options=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${apt_options[@]}" update > /dev/null
  (cd .gl && apt-get "${apt_options[@]}" download libvulkan1 vulkan-validationlayers)
fi
