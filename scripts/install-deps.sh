#!/usr/bin/env bash
# Installs the Debian 12 packages gpumem needs to build, test and benchmark.
# Idempotent: packages already present are not touched, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  libfmt-dev nlohmann-json3-dev libcli11-dev zlib1g-dev libzstd-dev libpng-dev
  clang clang-format clang-tidy libclang-rt-dev
  # OpenCL: the ICD loader and headers to build against, PoCL as the implementation tests run on.
  ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd
  # The Vulkan backend: the loader and headers, lavapipe (a Vulkan device on any CPU, so the
  # Vulkan tests run everywhere), the validation layer the tests enable, and vulkaninfo.
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  libsquish-dev libstb-dev  # bc_bench compares gpumem's BCn encoders with these
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
