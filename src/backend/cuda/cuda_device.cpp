#include "gpumem/backend/cuda_device.hpp"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include "backend/common/block_ledger.hpp"
#include "backend/common/copy_checks.hpp"
#include "backend/common/device_options.hpp"
#include "backend/common/pinned_host_heap.hpp"
#include "backend/cuda/cuda_check.hpp"
#include "backend/cuda/cuda_copy_stream.hpp"
#include "backend/cuda/cuda_driver_api.hpp"
#include "backend/cuda/cuda_virtual_memory.hpp"
#include "backend/cuda/nvml_library.hpp"
#include "gpumem/backend/host_device.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

// cudaMalloc hands out memory in 2 MiB pages on every recent GPU; where the device has virtual
// memory management its granularity replaces this.
constexpr std::uint64_t kDefaultDeviceGranularity = 2 * kMiB;

std::string version_text(int version) {
  return fmt::format("{}.{}", version / 1000, version % 1000 / 10);
}

std::string where(std::uint32_t ordinal, std::string_view name) {
  return name.empty() ? fmt::format("cuda device {}", ordinal)
                      : fmt::format("cuda device {} '{}'", ordinal, name);
}

CudaAvailability probe() {
  CudaAvailability a;
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    const std::string text = "cudaGetDeviceCount: " + detail::cuda_error_text(error);
    if (error == cudaErrorInsufficientDriver) {
      // The runtime says the same whether the driver is missing or too old; tell them apart.
      if (void* driver = ::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL)) {
        ::dlclose(driver);
        int runtime = 0;
        static_cast<void>(cudaRuntimeGetVersion(&runtime));
        a.detail = fmt::format("the CUDA driver is older than the runtime (CUDA {}): {}",
                               version_text(runtime), text);
      } else {
        a.detail = "no CUDA driver (libcuda.so.1 not found): " + text;
      }
    } else if (error == cudaErrorNoDevice) {
      a.detail = "no CUDA device: " + text;
    } else {
      a.detail = text;
    }
    return a;
  }
  if (count <= 0) {
    a.detail = "no CUDA device (cudaGetDeviceCount found none)";
    return a;
  }
  int driver = 0;
  int runtime = 0;
  static_cast<void>(cudaDriverGetVersion(&driver));
  static_cast<void>(cudaRuntimeGetVersion(&runtime));
  a.available = true;
  a.device_count = static_cast<std::uint32_t>(count);
  a.detail = fmt::format("{} device{}, driver supports CUDA {}, runtime {} (static)", count,
                         count == 1 ? "" : "s", version_text(driver), version_text(runtime));
  return a;
}

// What the constructor learns about the device before the bookkeeping exists.
struct Facts {
  DeviceInfo info;
  std::string pci_bus_id;
  const detail::DriverApi* driver = nullptr;  // null: no virtual memory management
  std::uint64_t vm_granularity = 0;
};

Facts gather(const CudaDeviceConfig& config) {
  const int ordinal = static_cast<int>(config.ordinal);
  std::string at = where(config.ordinal, {});
  detail::activate_device(ordinal, at);
  cudaDeviceProp prop{};
  detail::check_cuda(cudaGetDeviceProperties(&prop, ordinal), at, "cudaGetDeviceProperties");
  Facts f;
  f.info.backend = "cuda";
  f.info.index = config.ordinal;
  f.info.name = prop.name;
  f.info.type = prop.integrated != 0 ? DeviceType::IntegratedGpu : DeviceType::DiscreteGpu;
  at = where(config.ordinal, f.info.name);

  std::size_t free_bytes = 0;
  std::size_t total_bytes = 0;
  detail::check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), at, "cudaMemGetInfo");
  char bus_id[32] = {};
  detail::check_cuda(cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, ordinal), at,
                     "cudaDeviceGetPCIBusId");
  f.pci_bus_id = bus_id;

  std::string vm_status;
  if (!config.virtual_memory) {
    vm_status = "turned off (vmm=off)";
  } else if (const detail::DriverApi* api = detail::driver_api(vm_status)) {
    f.vm_granularity = detail::CudaVirtualMemory::granularity(*api, ordinal, vm_status);
    if (f.vm_granularity != 0) f.driver = api;
  }
  const std::uint64_t device_granularity =
      f.driver != nullptr ? f.vm_granularity : kDefaultDeviceGranularity;

  HeapInfo device;
  device.index = CudaDevice::kDeviceLocalHeap;
  device.name = "device-local";
  device.kind = HeapKind::DeviceLocal;
  device.flags = {.device_local = true, .dedicated = prop.integrated == 0};
  device.size = total_bytes;
  device.granularity = device_granularity;
  device.driver_budget = free_bytes;
  device.driver_usage = total_bytes - free_bytes;
  f.info.heaps.push_back(device);

  const bool pinned_configured = config.pinned_host_bytes != 0;
  const HeapInfo pinned =
      detail::pinned_host_heap(CudaDevice::kPinnedHostHeap, "pinned-host", config.pinned_host_bytes,
                               HostDeviceConfig::system().heaps.front().size, at);
  f.info.heaps.push_back(pinned);

  if (config.managed) {
    HeapInfo managed;
    managed.index = CudaDevice::kManagedHeap;
    managed.name = "managed";
    managed.kind = HeapKind::Shared;
    managed.flags = {
        .device_local = true, .host_visible = true, .host_coherent = true, .host_cached = true};
    managed.size = total_bytes;
    managed.granularity = device_granularity;
    managed.driver_budget = total_bytes;
    managed.driver_usage = 0;
    f.info.heaps.push_back(managed);
  }

  int driver = 0;
  int runtime = 0;
  static_cast<void>(cudaDriverGetVersion(&driver));
  static_cast<void>(cudaRuntimeGetVersion(&runtime));
  auto& p = f.info.properties;
  p.emplace_back("compute capability", fmt::format("{}.{}", prop.major, prop.minor));
  p.emplace_back("multiprocessors", std::to_string(prop.multiProcessorCount));
  p.emplace_back("total memory", format_bytes(total_bytes));
  p.emplace_back("PCI bus id", f.pci_bus_id);
  p.emplace_back("driver version", "CUDA " + version_text(driver));
  p.emplace_back("runtime version", "CUDA " + version_text(runtime) + " (static)");
  p.emplace_back("virtual memory", f.driver != nullptr ? fmt::format("supported, {} pages",
                                                                     format_bytes(f.vm_granularity))
                                                       : "not supported: " + vm_status);
  p.emplace_back("NVML", detail::NvmlLibrary::instance().status());
  p.emplace_back(
      "pinned-host cap",
      format_bytes(pinned.size) + (pinned_configured ? " (configured)" : " (physical memory / 4)"));
  p.emplace_back("managed heap", config.managed ? "on" : "off (cuda:N,managed=on adds it)");
  return f;
}

// The runtime call behind each heap; `ptr` is what it returned.
cudaError_t allocate_raw(HeapKind kind, std::uint64_t bytes, void** ptr) {
  switch (kind) {
    case HeapKind::PinnedHost:
      // Portable: usable from every device's context, as the staging heap of any of them.
      return cudaHostAlloc(ptr, bytes, cudaHostAllocPortable);
    case HeapKind::Shared:
      return cudaMallocManaged(ptr, bytes, cudaMemAttachGlobal);
    default:
      return cudaMalloc(ptr, bytes);
  }
}

cudaError_t free_raw(HeapKind kind, void* ptr) {
  return kind == HeapKind::PinnedHost ? cudaFreeHost(ptr) : cudaFree(ptr);
}

const char* allocate_call(HeapKind kind) {
  switch (kind) {
    case HeapKind::PinnedHost:
      return "cudaHostAlloc";
    case HeapKind::Shared:
      return "cudaMallocManaged";
    default:
      return "cudaMalloc";
  }
}

void* pointer(std::uint64_t address) { return reinterpret_cast<void*>(address); }

}  // namespace

CudaDeviceConfig CudaDeviceConfig::parse(std::string_view spec) {
  CudaDeviceConfig c;
  for (const auto& [key, value, has_value] : detail::split_device_options(spec)) {
    if (!has_value) {
      c.ordinal = detail::parse_device_number("cuda", key);
      continue;
    }
    if (key == "device") {
      c.ordinal = detail::parse_device_number("cuda", value);
    } else if (key == "pinned") {
      c.pinned_host_bytes = parse_bytes(value, "cuda pinned-host heap");
    } else if (key == "managed") {
      c.managed = detail::parse_switch("cuda", key, value);
    } else if (key == "vmm") {
      c.virtual_memory = detail::parse_switch("cuda", key, value);
    } else {
      throw InvalidArgument(fmt::format(
          "unknown cuda device option '{}' (known: a device number, device, pinned, managed, "
          "vmm)",
          key));
    }
  }
  return c;
}

const CudaAvailability& cuda_availability() noexcept {
  static const CudaAvailability availability = [] {
    try {
      return probe();
    } catch (const std::exception& e) {  // only allocation failures can get here
      return CudaAvailability{.available = false, .device_count = 0, .detail = e.what()};
    }
  }();
  return availability;
}

struct CudaDevice::State {
  State(const Facts& facts, const DeviceInfo& info)
      : label(where(info.index, info.name)),
        pci_bus_id(facts.pci_bus_id),
        ordinal(static_cast<int>(info.index)),
        ledger(info.heaps),
        stream(std::make_unique<detail::CudaCopyStream>(ordinal, label)) {
    if (facts.driver != nullptr) {
      vm = std::make_unique<detail::CudaVirtualMemory>(*facts.driver, info, ordinal,
                                                       facts.vm_granularity);
    }
  }
  // This device current until the end of the caller's scope.
  detail::ScopedDevice activate() const { return {ordinal, label}; }

  const std::string label;
  const std::string pci_bus_id;
  const int ordinal;
  detail::BlockLedger ledger;
  std::unique_ptr<detail::CudaCopyStream> stream;
  std::unique_ptr<detail::CudaVirtualMemory> vm;
};

CudaDevice::CudaDevice(const CudaDeviceConfig& config) : config_(config) {
  const CudaAvailability& cuda = cuda_availability();
  if (!cuda.available) throw Unsupported("cuda: unavailable: " + cuda.detail);
  if (config.ordinal >= cuda.device_count) {
    throw InvalidArgument(fmt::format("cuda device {} does not exist (this machine has {})",
                                      config.ordinal, cuda.device_count));
  }
  const Facts facts = gather(config_);
  info_ = facts.info;
  state_ = std::make_unique<State>(facts, info_);
}

CudaDevice::~CudaDevice() {
  // Copies in flight may still touch the memory: the stream waits for them as it goes.
  state_->stream.reset();
  state_->vm.reset();
  if (cudaSetDevice(state_->ordinal) != cudaSuccess) return;
  for (const RawBlock& block : state_->ledger.take_all()) {
    static_cast<void>(free_raw(info_.heaps[block.heap].kind, pointer(block.id)));
  }
  static_cast<void>(cudaGetLastError());
}

HeapReport CudaDevice::query_heap(std::uint32_t heap) {
  const HeapInfo& h = this->heap(heap);
  if (h.kind != HeapKind::DeviceLocal) return state_->ledger.report(heap);
  const detail::ScopedDevice current = state_->activate();
  std::size_t free_bytes = 0;
  std::size_t total_bytes = 0;
  detail::check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), state_->label, "cudaMemGetInfo");
  // As VK_EXT_memory_budget reports: the budget is what this process may hold (what is free plus
  // what it holds), the usage what it holds. NVML's per-process figure includes the CUDA context
  // and memory taken outside gpumem; without NVML, gpumem's own blocks and pages. Counting other
  // processes in the usage as well would count them twice: the budget already leaves them out.
  const std::uint64_t ours =
      state_->ledger.report(heap).usage + (state_->vm ? state_->vm->page_bytes() : 0);
  const std::uint64_t process = std::max(ours, process_usage().value_or(0));
  return {.budget = std::min<std::uint64_t>(total_bytes, free_bytes + process), .usage = process};
}

RawBlock CudaDevice::try_allocate_block(std::uint32_t heap, std::uint64_t size,
                                        std::uint64_t alignment) {
  const std::uint64_t rounded = state_->ledger.checked_size(info_, heap, size, alignment);
  const HeapKind kind = info_.heaps[heap].kind;
  if (!state_->ledger.try_take(heap, rounded)) return {};
  bool taken = true;
  const auto give_back = [&] {
    if (taken) state_->ledger.give_back(heap, rounded);
    taken = false;
  };
  try {
    const detail::ScopedDevice current = state_->activate();
    if (kind == HeapKind::Shared) {
      // Managed memory beyond what the device has free can hang the GPU on some systems.
      std::size_t free_bytes = 0;
      std::size_t total_bytes = 0;
      detail::check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), state_->label,
                         "cudaMemGetInfo");
      if (rounded > free_bytes) {
        give_back();
        return {};
      }
    }
    // The runtime aligns to 256 bytes (pages for cudaHostAlloc, 2 MiB for large cudaMalloc);
    // a larger alignment it missed is met by asking for more and aligning inside.
    std::uint64_t bytes = rounded;
    void* base = nullptr;
    cudaError_t error = allocate_raw(kind, bytes, &base);
    if (error == cudaSuccess && reinterpret_cast<std::uintptr_t>(base) % alignment != 0) {
      static_cast<void>(free_raw(kind, base));
      bytes = rounded + alignment;
      error = allocate_raw(kind, bytes, &base);
    }
    if (error == cudaErrorMemoryAllocation) {
      static_cast<void>(cudaGetLastError());  // out of memory is an answer, not a failure
      give_back();
      return {};
    }
    detail::check_cuda(error, state_->label,
                       fmt::format("{}({} on heap '{}')", allocate_call(kind), format_bytes(bytes),
                                   info_.heaps[heap].name));
    std::uint64_t address = 0;
    align_up(reinterpret_cast<std::uintptr_t>(base), alignment, address);
    const RawBlock block{.id = reinterpret_cast<std::uintptr_t>(base),
                         .heap = heap,
                         .size = rounded,
                         .address = address};
    state_->ledger.add(block);
    return block;
  } catch (...) {
    give_back();
    throw;
  }
}

void CudaDevice::free_block(const RawBlock& block) {
  const RawBlock found = state_->ledger.remove(info_, block);
  state_->ledger.give_back(found.heap, found.size);
  const HeapKind kind = info_.heaps[found.heap].kind;
  const detail::ScopedDevice current = state_->activate();
  detail::check_cuda(free_raw(kind, pointer(found.id)), state_->label,
                     kind == HeapKind::PinnedHost ? "cudaFreeHost" : "cudaFree");
}

std::byte* CudaDevice::map(const RawBlock& block) {
  const RawBlock found = state_->ledger.find(info_, block);
  if (info_.heaps[found.heap].kind == HeapKind::DeviceLocal) {
    throw Unsupported(fmt::format(
        "{}: block {:#x} of heap 'device-local' is device memory the CPU cannot map; copy it "
        "through a pinned-host block",
        state_->label, found.id));
  }
  return reinterpret_cast<std::byte*>(found.address);
}

FenceValue CudaDevice::copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                            std::uint64_t dst_offset, std::uint64_t size) {
  const RawBlock from = state_->ledger.find(info_, src);
  const RawBlock to = state_->ledger.find(info_, dst);
  detail::check_copy_range(info_, from, src_offset, to, dst_offset, size);
  return state_->stream->copy(pointer(to.address + dst_offset), pointer(from.address + src_offset),
                              size);
}

FenceValue CudaDevice::copy_addresses(std::uint64_t src_address, std::uint64_t dst_address,
                                      std::uint64_t size) {
  if (src_address == 0 || dst_address == 0) {
    throw InvalidArgument(fmt::format("{}: copy_addresses from {:#x} to {:#x}: null address",
                                      state_->label, src_address, dst_address));
  }
  return state_->stream->copy(pointer(dst_address), pointer(src_address), size);
}

bool CudaDevice::is_complete(FenceValue fence) {
  detail::check_fence(info_, fence, state_->stream->last_issued());
  return state_->stream->is_complete(fence);
}

void CudaDevice::wait(FenceValue fence) {
  detail::check_fence(info_, fence, state_->stream->last_issued());
  state_->stream->wait(fence);
}

VirtualMemory* CudaDevice::virtual_memory() noexcept { return state_->vm.get(); }

void CudaDevice::enable_peer_access(std::uint32_t peer) {
  const CudaAvailability& cuda = cuda_availability();
  if (peer >= cuda.device_count) {
    throw InvalidArgument(fmt::format("{}: peer device {} does not exist (this machine has {})",
                                      state_->label, peer, cuda.device_count));
  }
  if (peer == config_.ordinal) return;
  int can = 0;
  detail::check_cuda(cudaDeviceCanAccessPeer(&can, static_cast<int>(peer), state_->ordinal),
                     state_->label, "cudaDeviceCanAccessPeer");
  if (can == 0) {
    throw Unsupported(
        fmt::format("{}: device {} cannot access this device's memory", state_->label, peer));
  }
  const detail::ScopedDevice current(static_cast<int>(peer), state_->label);
  const cudaError_t error = cudaDeviceEnablePeerAccess(state_->ordinal, 0);
  if (error == cudaErrorPeerAccessAlreadyEnabled) {
    static_cast<void>(cudaGetLastError());
  } else {
    detail::check_cuda(error, state_->label,
                       fmt::format("cudaDeviceEnablePeerAccess from {}", peer));
  }
  if (state_->vm) state_->vm->grant_peer_access(static_cast<int>(peer));
}

std::optional<std::uint64_t> CudaDevice::process_usage() {
  return detail::NvmlLibrary::instance().process_usage(state_->pci_bus_id,
                                                       static_cast<std::uint32_t>(::getpid()));
}

}  // namespace gpumem
