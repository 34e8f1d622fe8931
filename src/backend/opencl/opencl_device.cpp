#include "gpumem/backend/opencl_device.hpp"

#include <fmt/format.h>

#include <mutex>
#include <unordered_map>
#include <utility>

#include "backend/common/block_ledger.hpp"
#include "backend/common/copy_checks.hpp"
#include "backend/common/device_options.hpp"
#include "backend/common/pinned_host_heap.hpp"
#include "backend/opencl/opencl_check.hpp"
#include "backend/opencl/opencl_copy_queue.hpp"
#include "backend/opencl/opencl_platforms.hpp"
#include "gpumem/backend/host_device.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

std::string where(const OpenclDeviceId& id) {
  return fmt::format("opencl device {}.{} '{}'", id.platform, id.device, id.device_name);
}

// The device a config names, and its place in the flat list.
std::pair<OpenclDeviceId, std::uint32_t> resolve(const OpenclDeviceConfig& config) {
  const OpenclAvailability& opencl = opencl_availability();
  if (!opencl.available) throw Unsupported("opencl: unavailable: " + opencl.detail);
  const auto& all = opencl.devices;
  for (std::uint32_t i = 0; i < all.size(); ++i) {
    const bool match = config.platform
                           ? all[i].platform == *config.platform && all[i].device == config.device
                           : i == config.device;
    if (match) return {all[i], i};
  }
  throw InvalidArgument(config.platform
                            ? fmt::format("opencl device {}.{} does not exist ({})",
                                          *config.platform, config.device, opencl.detail)
                            : fmt::format("opencl device {} does not exist (this machine has {})",
                                          config.device, all.size()));
}

// What the constructor learns about the device before the bookkeeping exists.
struct Facts {
  DeviceInfo info;
  cl_platform_id platform = nullptr;
  cl_device_id device = nullptr;
  std::string label;
  bool unified = false;
  std::uint64_t base_alignment = 0;  // bytes
  std::uint64_t max_alloc = 0;
};

Facts gather(const OpenclDeviceConfig& config) {
  const auto [id, flat_index] = resolve(config);
  Facts f;
  f.label = where(id);
  std::string why;
  const std::vector<cl_platform_id> platforms = detail::opencl_platforms(why);
  if (id.platform >= platforms.size()) throw Error(f.label + ": the platform is gone: " + why);
  f.platform = platforms[id.platform];
  const std::vector<cl_device_id> devices = detail::opencl_devices(f.platform, f.label);
  if (id.device >= devices.size()) throw Error(f.label + ": the device is gone");
  f.device = devices[id.device];

  using detail::device_value;
  const auto global = device_value<cl_ulong>(f.device, CL_DEVICE_GLOBAL_MEM_SIZE, f.label);
  f.max_alloc = device_value<cl_ulong>(f.device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, f.label);
  f.unified = device_value<cl_bool>(f.device, CL_DEVICE_HOST_UNIFIED_MEMORY, f.label) == CL_TRUE;
  f.base_alignment = device_value<cl_uint>(f.device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, f.label) / 8U;

  f.info.backend = "opencl";
  f.info.index = flat_index;
  f.info.name = id.device_name;
  f.info.type = detail::opencl_device_type(f.device, f.label);
  const std::uint64_t page = detail::host_page_size();

  HeapInfo device;
  device.index = OpenclDevice::kDeviceHeap;
  device.name = "device";
  device.kind = f.unified ? HeapKind::Shared : HeapKind::DeviceLocal;
  device.flags = {.device_local = true, .dedicated = !f.unified};
  device.size = global;
  device.granularity = page;
  device.driver_budget = global;
  device.driver_usage = 0;
  f.info.heaps.push_back(device);

  // On a unified device the pinned memory comes out of what the device reports as its own.
  const HeapInfo host = detail::pinned_host_heap(
      OpenclDevice::kHostVisibleHeap, "host-visible", config.host_visible_bytes,
      f.unified ? global : HostDeviceConfig::system().heaps.front().size, f.label);
  f.info.heaps.push_back(host);

  auto& p = f.info.properties;
  p.emplace_back("spec",
                 fmt::format("opencl:{}.{} (opencl:{})", id.platform, id.device, flat_index));
  p.emplace_back("platform", detail::platform_text(f.platform, CL_PLATFORM_NAME) + ", " +
                                 detail::platform_text(f.platform, CL_PLATFORM_VERSION));
  p.emplace_back("vendor", detail::device_text(f.device, CL_DEVICE_VENDOR, f.label));
  p.emplace_back("device version", detail::device_text(f.device, CL_DEVICE_VERSION, f.label));
  p.emplace_back("driver version", detail::device_text(f.device, CL_DRIVER_VERSION, f.label));
  p.emplace_back("global memory", format_bytes(global));
  p.emplace_back("max allocation", format_bytes(f.max_alloc) + " (the largest block)");
  p.emplace_back("unified memory", f.unified ? "yes (the device heap is host memory)" : "no");
  p.emplace_back("sub-buffer alignment", fmt::format("{} bytes", f.base_alignment));
  p.emplace_back("host-visible cap",
                 format_bytes(host.size) + (config.host_visible_bytes != 0 ? " (configured)"
                                            : f.unified                    ? " (global memory / 4)"
                                                        : " (physical memory / 4)"));
  return f;
}

}  // namespace

OpenclDeviceConfig OpenclDeviceConfig::parse(std::string_view spec) {
  OpenclDeviceConfig c;
  for (const auto& [key, value, has_value] : detail::split_device_options(spec)) {
    if (!has_value) {
      const std::size_t dot = key.find('.');
      if (dot == std::string_view::npos) {
        c.platform.reset();
        c.device = detail::parse_device_number("opencl", key);
      } else {
        c.platform = detail::parse_device_number("opencl", key.substr(0, dot));
        c.device = detail::parse_device_number("opencl", key.substr(dot + 1));
      }
    } else if (key == "host_visible") {
      c.host_visible_bytes = parse_bytes(value, "opencl host-visible heap");
    } else {
      throw InvalidArgument(
          fmt::format("unknown opencl device option '{}' (known: N, P.D, host_visible=SIZE)", key));
    }
  }
  return c;
}

const OpenclAvailability& opencl_availability() noexcept {
  static const OpenclAvailability availability = [] {
    try {
      return detail::probe_opencl();
    } catch (const std::exception& e) {  // only allocation failures can get here
      return OpenclAvailability{.available = false, .devices = {}, .detail = e.what()};
    }
  }();
  return availability;
}

OpenclSubBuffer::OpenclSubBuffer(OpenclSubBuffer&& other) noexcept
    : buffer_(std::exchange(other.buffer_, nullptr)) {}

OpenclSubBuffer& OpenclSubBuffer::operator=(OpenclSubBuffer&& other) noexcept {
  if (this != &other) {
    if (buffer_ != nullptr) static_cast<void>(clReleaseMemObject(buffer_));
    buffer_ = std::exchange(other.buffer_, nullptr);
  }
  return *this;
}

OpenclSubBuffer::~OpenclSubBuffer() {
  if (buffer_ != nullptr) static_cast<void>(clReleaseMemObject(buffer_));
}

struct OpenclDevice::State {
  State(const Facts& facts, const DeviceInfo& info)
      : label(facts.label),
        device(facts.device),
        unified(facts.unified),
        base_alignment(facts.base_alignment),
        max_alloc(facts.max_alloc),
        ledger(info.heaps) {
    const cl_context_properties properties[] = {
        CL_CONTEXT_PLATFORM, reinterpret_cast<cl_context_properties>(facts.platform), 0};
    cl_int error = CL_SUCCESS;
    context = clCreateContext(properties, 1, &device, nullptr, nullptr, &error);
    detail::check_cl(error, label, "clCreateContext");
    try {
      queue = std::make_unique<detail::OpenclCopyQueue>(context, device, label);
    } catch (...) {
      static_cast<void>(clReleaseContext(context));
      throw;
    }
  }

  // Takes `bytes` of the heap's capacity, and of the device heap's too for a host-visible block
  // of a unified device: there both are the same memory.
  bool try_take(std::uint32_t heap, std::uint64_t bytes) {
    if (!ledger.try_take(heap, bytes)) return false;
    if (heap == kHostVisibleHeap && unified && !ledger.try_take(kDeviceHeap, bytes)) {
      ledger.give_back(heap, bytes);
      return false;
    }
    return true;
  }
  void give_back(std::uint32_t heap, std::uint64_t bytes) {
    ledger.give_back(heap, bytes);
    if (heap == kHostVisibleHeap && unified) ledger.give_back(kDeviceHeap, bytes);
  }

  // The OpenCL objects of a block the ledger found live.
  struct Buffer {
    cl_mem mem = nullptr;
    std::byte* base = nullptr;  // the mapping of a host-visible block (what unmapping needs)
  };
  Buffer buffer_of(const RawBlock& live) const {
    std::lock_guard lock(mutex);
    return buffers.at(live.id);
  }
  // Records a new buffer under an id never handed out before: cl_mem handles are reused once
  // released, and a stale block must be refused, not taken for the new one.
  std::uint64_t record(const Buffer& buffer) {
    std::lock_guard lock(mutex);
    const std::uint64_t id = ++last_id;
    buffers.emplace(id, buffer);
    return id;
  }
  Buffer forget(const RawBlock& live) {
    std::lock_guard lock(mutex);
    const auto it = buffers.find(live.id);
    const Buffer buffer = it->second;
    buffers.erase(it);
    return buffer;
  }

  // Makes a buffer of `bytes`, placed on the device (device heap) or mapped (host-visible).
  // Returns the buffer and, for host-visible blocks, its mapping; {null, null} when there is no
  // room.
  std::pair<cl_mem, std::byte*> make_buffer(std::uint32_t heap, std::uint64_t bytes) {
    const bool host = heap == kHostVisibleHeap;
    const cl_mem_flags flags = CL_MEM_READ_WRITE | (host ? CL_MEM_ALLOC_HOST_PTR : 0);
    cl_int error = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(context, flags, bytes, nullptr, &error);
    if (detail::is_out_of_memory(error)) return {nullptr, nullptr};
    detail::check_cl(error, label, fmt::format("clCreateBuffer({})", format_bytes(bytes)));
    const auto fail = [&](cl_int code, const char* call) {
      static_cast<void>(clReleaseMemObject(mem));
      if (detail::is_out_of_memory(code)) return std::pair<cl_mem, std::byte*>{nullptr, nullptr};
      detail::check_cl(code, label, fmt::format("{}({})", call, format_bytes(bytes)));
      return std::pair<cl_mem, std::byte*>{nullptr, nullptr};  // not reached
    };
    if (host) {
      void* pointer = clEnqueueMapBuffer(queue->get(), mem, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0,
                                         bytes, 0, nullptr, nullptr, &error);
      if (error != CL_SUCCESS) return fail(error, "clEnqueueMapBuffer");
      return {mem, static_cast<std::byte*>(pointer)};
    }
    // Drivers that allocate on first use (NVIDIA's) would otherwise accept any size here and fail
    // a later copy: placing the buffer now turns that into "no room" for this request.
    cl_event placed = nullptr;
    error = clEnqueueMigrateMemObjects(
        queue->get(), 1, &mem, CL_MIGRATE_MEM_OBJECT_CONTENT_UNDEFINED, 0, nullptr, &placed);
    if (error != CL_SUCCESS) return fail(error, "clEnqueueMigrateMemObjects");
    error = clWaitForEvents(1, &placed);
    cl_int status = CL_COMPLETE;
    static_cast<void>(
        clGetEventInfo(placed, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, nullptr));
    static_cast<void>(clReleaseEvent(placed));
    if (status < 0) return fail(status, "clEnqueueMigrateMemObjects");
    if (error != CL_SUCCESS) return fail(error, "clWaitForEvents");
    return {mem, nullptr};
  }

  void release(cl_mem mem, std::byte* base) const {
    // Both are queued behind copies that may still use the buffer; OpenCL deletes it after them.
    if (base != nullptr) {
      static_cast<void>(clEnqueueUnmapMemObject(queue->get(), mem, base, 0, nullptr, nullptr));
    }
    static_cast<void>(clReleaseMemObject(mem));
  }

  const std::string label;
  cl_device_id device;
  const bool unified;
  const std::uint64_t base_alignment;
  const std::uint64_t max_alloc;
  cl_context context = nullptr;
  std::unique_ptr<detail::OpenclCopyQueue> queue;
  detail::BlockLedger ledger;
  mutable std::mutex mutex;
  std::unordered_map<std::uint64_t, Buffer> buffers;  // by block id
  std::uint64_t last_id = 0;
};

OpenclDevice::OpenclDevice(const OpenclDeviceConfig& config) : config_(config) {
  const Facts facts = gather(config_);
  info_ = facts.info;
  state_ = std::make_unique<State>(facts, info_);
}

OpenclDevice::~OpenclDevice() {
  for (const RawBlock& block : state_->ledger.take_all()) {
    const State::Buffer buffer = state_->forget(block);
    state_->release(buffer.mem, buffer.base);
  }
  state_->queue.reset();  // waits for every command, the unmaps included
  static_cast<void>(clReleaseContext(state_->context));
}

HeapReport OpenclDevice::query_heap(std::uint32_t heap) {
  this->heap(heap);  // validates the index
  // OpenCL reports no usage: the heap's size is the budget and gpumem's blocks the usage.
  return state_->ledger.report(heap);
}

RawBlock OpenclDevice::try_allocate_block(std::uint32_t heap, std::uint64_t size,
                                          std::uint64_t alignment) {
  const std::uint64_t rounded = state_->ledger.checked_size(info_, heap, size, alignment);
  const HeapInfo& h = info_.heaps[heap];
  // Above the heap's size the books refuse it with an empty block, as on every backend.
  if (rounded > state_->max_alloc && rounded <= h.size) {
    throw InvalidArgument(fmt::format(
        "{}: a block of {} on heap '{}' is larger than CL_DEVICE_MAX_MEM_ALLOC_SIZE ({}), the "
        "largest buffer the device makes",
        state_->label, format_bytes(rounded), h.name, format_bytes(state_->max_alloc)));
  }
  if (!state_->try_take(heap, rounded)) return {};
  try {
    std::pair<cl_mem, std::byte*> made = state_->make_buffer(heap, rounded);
    if (made.second != nullptr && reinterpret_cast<std::uintptr_t>(made.second) % alignment != 0) {
      // The mapping is less aligned than asked: a larger buffer has an aligned start inside it
      // (the extra bytes are not charged to the heap: they are at most the alignment).
      state_->release(made.first, made.second);
      if (rounded + alignment > state_->max_alloc) {
        throw InvalidArgument(fmt::format(
            "{}: a block of {} aligned to {} needs a buffer larger than "
            "CL_DEVICE_MAX_MEM_ALLOC_SIZE ({})",
            state_->label, format_bytes(rounded), alignment, format_bytes(state_->max_alloc)));
      }
      made = state_->make_buffer(heap, rounded + alignment);
    }
    const auto [mem, base] = made;
    if (mem == nullptr) {
      state_->give_back(heap, rounded);
      return {};
    }
    std::uint64_t address = 0;
    if (base != nullptr) align_up(reinterpret_cast<std::uintptr_t>(base), alignment, address);
    const RawBlock block{.id = state_->record({.mem = mem, .base = base}),
                         .heap = heap,
                         .size = rounded,
                         .address = address};
    state_->ledger.add(block);
    return block;
  } catch (...) {
    state_->give_back(heap, rounded);
    throw;
  }
}

void OpenclDevice::free_block(const RawBlock& block) {
  const RawBlock found = state_->ledger.remove(info_, block);
  const State::Buffer buffer = state_->forget(found);
  state_->release(buffer.mem, buffer.base);
  state_->give_back(found.heap, found.size);
}

std::byte* OpenclDevice::map(const RawBlock& block) {
  const RawBlock found = state_->ledger.find(info_, block);
  if (found.heap == kDeviceHeap) {
    throw Unsupported(
        fmt::format("{}: block {:#x} of heap 'device' is not mapped for the CPU; copy it through a "
                    "host-visible block",
                    state_->label, found.id));
  }
  return reinterpret_cast<std::byte*>(found.address);
}

FenceValue OpenclDevice::copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                              std::uint64_t dst_offset, std::uint64_t size) {
  const RawBlock from = state_->ledger.find(info_, src);
  const RawBlock to = state_->ledger.find(info_, dst);
  detail::check_copy_range(info_, from, src_offset, to, dst_offset, size);
  // Mapped blocks are reached through their host memory (see the header).
  auto* const from_host = reinterpret_cast<std::byte*>(from.address);
  auto* const to_host = reinterpret_cast<std::byte*>(to.address);
  detail::OpenclCopyQueue& queue = *state_->queue;
  if (from_host != nullptr && to_host != nullptr) {
    return queue.host_copy(to_host + dst_offset, from_host + src_offset, size);
  }
  const cl_mem from_mem = state_->buffer_of(from).mem;
  const cl_mem to_mem = state_->buffer_of(to).mem;
  if (from_host != nullptr) return queue.write(to_mem, dst_offset, from_host + src_offset, size);
  if (to_host != nullptr) return queue.read(to_host + dst_offset, from_mem, src_offset, size);
  return queue.copy_buffers(to_mem, dst_offset, from_mem, src_offset, size);
}

bool OpenclDevice::is_complete(FenceValue fence) {
  detail::check_fence(info_, fence, state_->queue->last_issued());
  return state_->queue->is_complete(fence);
}

void OpenclDevice::wait(FenceValue fence) {
  detail::check_fence(info_, fence, state_->queue->last_issued());
  state_->queue->wait(fence);
}

OpenclRegion OpenclDevice::region(const RawBlock& block, std::uint64_t offset) const {
  const RawBlock found = state_->ledger.find(info_, block);
  if (offset > found.size) {
    throw InvalidArgument(fmt::format("{}: offset {} lies beyond the block of {} bytes",
                                      state_->label, offset, found.size));
  }
  const State::Buffer buffer = state_->buffer_of(found);
  const std::uint64_t start =
      buffer.base == nullptr ? 0 : found.address - reinterpret_cast<std::uintptr_t>(buffer.base);
  return {.buffer = buffer.mem, .offset = start + offset};
}

OpenclSubBuffer OpenclDevice::sub_buffer(const RawBlock& block, std::uint64_t offset,
                                         std::uint64_t size) const {
  const OpenclRegion r = region(block, offset);
  if (size == 0 || size > block.size - offset) {
    throw InvalidArgument(
        fmt::format("{}: sub-buffer [{}, +{}) is empty or leaves the block of {} bytes",
                    state_->label, offset, size, block.size));
  }
  if (r.offset % state_->base_alignment != 0) {
    throw InvalidArgument(fmt::format(
        "{}: a sub-buffer must start at a multiple of CL_DEVICE_MEM_BASE_ADDR_ALIGN ({} bytes); "
        "offset {} in the buffer is not (allocate with that alignment, or pass the buffer and "
        "offset from region())",
        state_->label, state_->base_alignment, r.offset));
  }
  const cl_buffer_region range{.origin = r.offset, .size = size};
  cl_int error = CL_SUCCESS;
  cl_mem sub = clCreateSubBuffer(r.buffer, 0, CL_BUFFER_CREATE_TYPE_REGION, &range, &error);
  detail::check_cl(error, state_->label, "clCreateSubBuffer");
  return OpenclSubBuffer(sub);
}

std::uint64_t OpenclDevice::sub_buffer_alignment() const noexcept { return state_->base_alignment; }
std::uint64_t OpenclDevice::max_block_size(std::uint32_t heap) const {
  return std::min(state_->max_alloc, this->heap(heap).size);
}
cl_context OpenclDevice::context() const noexcept { return state_->context; }
cl_device_id OpenclDevice::device_id() const noexcept { return state_->device; }
cl_command_queue OpenclDevice::queue() const noexcept { return state_->queue->get(); }

}  // namespace gpumem
