// The handle of one transfer (an upload staged through a StagingRing, a download started on an
// AsyncReadback): what a caller polls or waits on. Tickets of one object increase in the order
// the transfers were started; 0 is never issued.
//
//   gpumem::TransferTicket t = ring.stage_upload(bytes, buffer);
//   if (!ring.is_complete(t)) do_other_work();
//   ring.wait(t);
//
// Thread safety: a plain value; the object that issued it says what may be done with it.
#pragma once

#include <cstdint>

#include "gpumem/core/error.hpp"

namespace gpumem {

struct TransferTicket {
  std::uint64_t id = 0;
  explicit operator bool() const noexcept { return id != 0; }
  friend bool operator==(const TransferTicket&, const TransferTicket&) = default;
};

// A transfer object has no room for another transfer and its policy is to say so rather than
// wait: a StagingRing with FullRingPolicy::Fail, or an AsyncReadback at max_pending_ops.
class TransferQueueFull : public Error {
 public:
  explicit TransferQueueFull(const std::string& message) : Error(message) {}
};

}  // namespace gpumem
