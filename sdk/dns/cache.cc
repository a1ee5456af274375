#include "sdk/dns/cache.h"

#include <iterator>

namespace stow::dns {

absl::optional<CachedAnswer> AnswerCache::Lookup(const std::string& name,
                                                 RecordType type,
                                                 absl::Duration now) {
  auto it = index_.find(Key(name, type));
  if (it == index_.end()) return absl::nullopt;
  if (now >= it->second->expires) {
    Erase(it->second);
    return absl::nullopt;
  }
  entries_.splice(entries_.begin(), entries_, it->second);
  return it->second->answer;
}

void AnswerCache::Insert(const std::string& name, RecordType type,
                         CachedAnswer answer, absl::Duration now,
                         absl::Duration ttl) {
  Key key(name, type);
  if (auto it = index_.find(key); it != index_.end()) Erase(it->second);
  if (max_entries_ == 0 || ttl <= absl::ZeroDuration()) return;
  // The least recently used entry goes, expired or not (expired entries
  // are dropped when looked up).
  while (entries_.size() >= max_entries_) {
    Erase(std::prev(entries_.end()));
    ++evictions_;
  }
  entries_.push_front(Entry{key, std::move(answer), now + ttl});
  index_.emplace(std::move(key), entries_.begin());
}

void AnswerCache::Clear() {
  index_.clear();
  entries_.clear();
}

void AnswerCache::Erase(List::iterator it) {
  index_.erase(it->key);
  entries_.erase(it);
}

}  // namespace stow::dns
