// Deferred deletion: objects that end inside their own callbacks are handed
// here and deleted on a later turn of the loop.
#ifndef STOWAWAY_SDK_PROXY_GRAVEYARD_H_
#define STOWAWAY_SDK_PROXY_GRAVEYARD_H_

#include <memory>
#include <utility>
#include <vector>

#include "sdk/event/loop.h"

namespace stow::proxy {

// Holds objects of type T until the next loop turn, then deletes them.
// Destroying the graveyard deletes what it still holds. Loop thread only;
// the loop must outlive it.
template <typename T>
class Graveyard {
 public:
  explicit Graveyard(event::Loop* loop)
      : timer_(loop->NewTimer([this] { Reap(); })) {}
  ~Graveyard() {
    timer_.reset();
    Reap();
  }
  Graveyard(const Graveyard&) = delete;
  Graveyard& operator=(const Graveyard&) = delete;

  void Bury(std::unique_ptr<T> object) {
    dead_.push_back(std::move(object));
    if (!timer_->IsArmed()) timer_->Start(absl::ZeroDuration());
  }
  size_t size() const { return dead_.size(); }

 private:
  void Reap() {
    // Deleting may bury more: those wait for the next turn.
    std::vector<std::unique_ptr<T>> batch;
    batch.swap(dead_);
    batch.clear();
    if (!dead_.empty() && timer_ != nullptr) timer_->Start(absl::ZeroDuration());
  }

  std::unique_ptr<event::Timer> timer_;
  std::vector<std::unique_ptr<T>> dead_;
};

}  // namespace stow::proxy

#endif  // STOWAWAY_SDK_PROXY_GRAVEYARD_H_
