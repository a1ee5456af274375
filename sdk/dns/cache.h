// The resolver's answer cache: answers per (name, record type), each until
// its own deadline, bounded by an entry count with least-recently-used
// eviction. Pure: the caller passes the time (the loop's clock), so tests
// drive it with a fake clock.
#ifndef STOWAWAY_SDK_DNS_CACHE_H_
#define STOWAWAY_SDK_DNS_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "sdk/base/ip_address.h"
#include "sdk/dns/message.h"

namespace stow::dns {

// What a server said about one (name, type).
struct CachedAnswer {
  enum class Kind {
    kAddresses,  // `addresses`, in answer order (never empty).
    kNxDomain,   // The name does not exist.
    kNoData,     // The name exists, without records of the type.
  };
  Kind kind = Kind::kNxDomain;
  std::vector<IpAddress> addresses;
};

// Threading: not thread-safe (the resolver uses it on the loop thread).
class AnswerCache {
 public:
  // `max_entries` 0 disables the cache: nothing is stored.
  explicit AnswerCache(size_t max_entries) : max_entries_(max_entries) {}
  AnswerCache(const AnswerCache&) = delete;
  AnswerCache& operator=(const AnswerCache&) = delete;

  // The answer for (`name`, `type`) if one is stored and `now` is before its
  // deadline; it becomes the most recently used. An expired entry is
  // dropped. `name` is compared as given: pass normalized names.
  absl::optional<CachedAnswer> Lookup(const std::string& name, RecordType type,
                                      absl::Duration now);

  // Stores `answer` until `now + ttl`, replacing an older answer for the
  // same key. A ttl <= 0 stores nothing (and drops the older answer). When
  // full, the least recently used entry is evicted.
  void Insert(const std::string& name, RecordType type, CachedAnswer answer,
              absl::Duration now, absl::Duration ttl);

  void Clear();
  size_t size() const { return entries_.size(); }
  bool enabled() const { return max_entries_ > 0; }
  // Entries evicted to make room.
  uint64_t evictions() const { return evictions_; }

 private:
  using Key = std::pair<std::string, RecordType>;
  struct Entry {
    Key key;
    CachedAnswer answer;
    absl::Duration expires;
  };
  // Most recently used first.
  using List = std::list<Entry>;

  void Erase(List::iterator it);

  const size_t max_entries_;
  List entries_;
  std::map<Key, List::iterator> index_;
  uint64_t evictions_ = 0;
};

}  // namespace stow::dns

#endif  // STOWAWAY_SDK_DNS_CACHE_H_
