#include "transfer/block_copier.hpp"

#if GPUMEM_HAS_CUDA
#include "gpumem/backend/cuda_device.hpp"
#endif

namespace gpumem::detail {

BlockCopier::BlockCopier(Device& device) : device_(device) {
#if GPUMEM_HAS_CUDA
  cuda_ = dynamic_cast<CudaDevice*>(&device);
#endif
}

FenceValue BlockCopier::operator()(const RawBlock& src, std::uint64_t src_offset,
                                   const RawBlock& dst, std::uint64_t dst_offset,
                                   std::uint64_t size) const {
#if GPUMEM_HAS_CUDA
  if (cuda_ != nullptr) {
    return cuda_->copy_addresses(src.address + src_offset, dst.address + dst_offset, size);
  }
#endif
  return device_.copy(src, src_offset, dst, dst_offset, size);
}

}  // namespace gpumem::detail
