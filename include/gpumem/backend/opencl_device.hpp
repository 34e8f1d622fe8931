// The OpenCL backend: one device of one platform, through the ICD loader (libOpenCL), so the same
// code runs on PoCL (the CPU), NVIDIA, AMD and Intel. Only buffers, copies and maps are used: no
// kernel is ever compiled.
//
// Heaps, in this order:
//   0 "device"        buffers from clCreateBuffer; size = CL_DEVICE_GLOBAL_MEM_SIZE. Kind
//                     device-local, or shared where CL_DEVICE_HOST_UNIFIED_MEMORY says the device
//                     works in host memory (CPUs, integrated GPUs). Never mapped by gpumem.
//   1 "host-visible"  buffers with CL_MEM_ALLOC_HOST_PTR (pinned memory on discrete GPUs), mapped
//                     once with clEnqueueMapBuffer when made and unmapped when freed; kind
//                     pinned-host. Page-locked memory is taken from the machine for good, so the
//                     heap is capped: a quarter of physical memory (of the global memory on a
//                     unified device) unless configured.
// On a unified device both heaps are the same memory, so host-visible blocks count against the
// device heap too. OpenCL reports no usage, so query_heap reports the heap's size as its budget
// and gpumem's own blocks as its usage. No block may exceed CL_DEVICE_MAX_MEM_ALLOC_SIZE: a larger
// request is InvalidArgument naming that limit. Device blocks are placed on the device (migrated)
// before they are handed out, so a driver that allocates lazily says "no room" at once.
//
// How blocks map to OpenCL objects: each block is one cl_mem of its own. RawBlock::id is a number
// the device never hands out twice (cl_mem handles are reused once released, and a stale block
// must be refused rather than taken for a new one). RawBlock::address is the mapped host pointer
// of a host-visible block (aligned as requested) and 0 for a device block: OpenCL 1.2 has no
// device addresses. region(block, offset) gives the cl_mem and the byte offset inside it to hand
// to a kernel or an enqueue call (a host-visible block may start inside its buffer, where the
// alignment asked for put it); sub_buffer(block, offset, size) makes a
// sub-buffer (clCreateSubBuffer) for an allocation whose offset is a multiple of
// sub_buffer_alignment() (CL_DEVICE_MEM_BASE_ADDR_ALIGN): allocate with that alignment to get
// one for any allocation. For an Allocation a of a Manager on this device:
//
//   gpumem::OpenclDevice& cl = static_cast<gpumem::OpenclDevice&>(manager.device());
//   gpumem::OpenclRegion r = cl.region(a.block(), a.offset());  // r.buffer, r.offset
//   gpumem::OpenclSubBuffer sub = cl.sub_buffer(a.block(), a.offset(), a.size());
//   clSetKernelArg(kernel, 0, sizeof(cl_mem), &sub.get());
//
// Copies run in order on one command queue per device; each copy's fence is the cl_event of its
// last command. A copy touching a host-visible block reads or writes its mapped memory
// (clEnqueueWriteBuffer / clEnqueueReadBuffer from the mapped pointer, the pinned-transfer path),
// since OpenCL leaves commands on a mapped buffer undefined; between two host-visible blocks it is
// a memmove once the copies before it are done. Kernels should likewise use device blocks and
// leave host-visible ones to staging.
//
//   if (gpumem::opencl_availability().available) {
//     gpumem::OpenclDevice cl(gpumem::OpenclDeviceConfig::parse("0.0,host_visible=256MiB"));
//     gpumem::RawBlock vram = cl.try_allocate_block(gpumem::OpenclDevice::kDeviceHeap, n, 256);
//     gpumem::RawBlock staging = cl.try_allocate_block(gpumem::OpenclDevice::kHostVisibleHeap, n,
//                                                      64);
//     std::memcpy(cl.map(staging), data, n);
//     cl.wait(cl.copy(staging, 0, vram, 0, n));
//   }
//
// The class exists in builds with OpenCL (GPUMEM_HAS_OPENCL is defined for users of
// gpumem::backend). Thread safety: every method may be called from several threads at once;
// OpenclSubBuffer is a value owned by one thread at a time.
#pragma once

#include <CL/cl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/backend/device.hpp"

namespace gpumem {

struct OpenclDeviceConfig {
  // Which device: `device` of `platform`, or, without a platform, the device-th of all devices
  // of all platforms in platform order (as open_all_devices() and `gpumem info` list them).
  std::optional<std::uint32_t> platform;
  std::uint32_t device = 0;
  // Size of the host-visible heap; 0 picks the cap described above.
  std::uint64_t host_visible_bytes = 0;

  // "1" (the second device overall), "0.1" (platform 0, device 1), "host_visible=1GiB", or both
  // ("0.0,host_visible=64MiB"); unknown keys, bad numbers and sizes throw InvalidArgument.
  static OpenclDeviceConfig parse(std::string_view spec);
};

// One OpenCL device as the platforms list it.
struct OpenclDeviceId {
  std::uint32_t platform = 0;
  std::uint32_t device = 0;  // within the platform
  std::string platform_name;
  std::string device_name;
  DeviceType type = DeviceType::Other;  // what OpenclDevice::info().type will say
};

// Whether OpenCL can be used in this process, probed once (the first call asks the ICD loader,
// later calls return the same answer); never throws.
struct OpenclAvailability {
  bool available = false;
  std::vector<OpenclDeviceId> devices;  // every device of every platform, in platform order
  std::string detail;                   // what was found, or why nothing
};
const OpenclAvailability& opencl_availability() noexcept;

// Where a byte of a block lives for OpenCL calls: a buffer and an offset in it. Not retained: valid
// while the block is.
struct OpenclRegion {
  cl_mem buffer = nullptr;
  std::uint64_t offset = 0;
};

// A sub-buffer this object owns (released when destroyed).
class OpenclSubBuffer {
 public:
  OpenclSubBuffer() noexcept = default;
  explicit OpenclSubBuffer(cl_mem buffer) noexcept : buffer_(buffer) {}
  OpenclSubBuffer(OpenclSubBuffer&& other) noexcept;
  OpenclSubBuffer& operator=(OpenclSubBuffer&& other) noexcept;
  OpenclSubBuffer(const OpenclSubBuffer&) = delete;
  OpenclSubBuffer& operator=(const OpenclSubBuffer&) = delete;
  ~OpenclSubBuffer();

  const cl_mem& get() const noexcept { return buffer_; }
  explicit operator bool() const noexcept { return buffer_ != nullptr; }

 private:
  cl_mem buffer_ = nullptr;
};

class OpenclDevice final : public Device {
 public:
  static constexpr std::uint32_t kDeviceHeap = 0;
  static constexpr std::uint32_t kHostVisibleHeap = 1;

  // Unsupported when OpenCL is unavailable, InvalidArgument for a platform or device that does
  // not exist, Error naming the OpenCL call when the implementation fails.
  explicit OpenclDevice(const OpenclDeviceConfig& config = {});
  // Waits for copies in flight, then frees the blocks still out.
  ~OpenclDevice() override;

  const DeviceInfo& info() const noexcept override { return info_; }
  HeapReport query_heap(std::uint32_t heap) override;
  RawBlock try_allocate_block(std::uint32_t heap, std::uint64_t size,
                              std::uint64_t alignment) override;
  void free_block(const RawBlock& block) override;
  // CL_DEVICE_MAX_MEM_ALLOC_SIZE, or the heap's size where that is smaller.
  std::uint64_t max_block_size(std::uint32_t heap) const override;
  // Host-visible blocks; Unsupported for device blocks.
  std::byte* map(const RawBlock& block) override;
  FenceValue copy(const RawBlock& src, std::uint64_t src_offset, const RawBlock& dst,
                  std::uint64_t dst_offset, std::uint64_t size) override;
  bool is_complete(FenceValue fence) override;
  void wait(FenceValue fence) override;

  // The cl_mem and offset of byte `offset` of a live block; InvalidHandle for a block that is not,
  // InvalidArgument for an offset beyond it.
  OpenclRegion region(const RawBlock& block, std::uint64_t offset = 0) const;
  // A sub-buffer of `size` bytes at `offset` of a live block. InvalidArgument unless the offset
  // inside the cl_mem is a multiple of sub_buffer_alignment() and the range lies in the block.
  OpenclSubBuffer sub_buffer(const RawBlock& block, std::uint64_t offset, std::uint64_t size) const;
  // CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes.
  std::uint64_t sub_buffer_alignment() const noexcept;

  cl_context context() const noexcept;
  cl_device_id device_id() const noexcept;
  // The queue copies run on; work a caller enqueues on it is ordered with them.
  cl_command_queue queue() const noexcept;

  const OpenclDeviceConfig& config() const noexcept { return config_; }

 private:
  struct State;
  OpenclDeviceConfig config_;
  DeviceInfo info_;
  std::unique_ptr<State> state_;
};

}  // namespace gpumem
