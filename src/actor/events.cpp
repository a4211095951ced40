#include "actor/events.hpp"

#include <cstring>

namespace theater {

namespace {

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

template <typename T>
T get(const char* in, size_t& pos) {
  T value;
  std::memcpy(&value, in + pos, sizeof value);
  pos += sizeof value;
  return value;
}

}  // namespace

void EventLog::add(Event& e) {
  std::lock_guard lock(mutex_);
  if (packed_count_) {  // awake again: back to a ring of entries
    entries_ = unpacked();
    packed_.reset();
    packed_count_ = 0;
    oldest_ = 0;
  }
  e.seq = next_++;
  Entry entry{e.seq, e.time_ms, e.type, e.detail};
  if (entries_.size() < keep_) {
    entries_.push_back(std::move(entry));
  } else {
    entries_[oldest_] = std::move(entry);
    oldest_ = static_cast<uint32_t>((oldest_ + 1) % entries_.size());
  }
}

std::vector<EventLog::Entry> EventLog::unpacked() const {
  std::vector<Entry> out;
  if (packed_count_) {
    out.reserve(packed_count_);
    const char* in = packed_.get();
    size_t pos = 0;
    for (uint32_t i = 0; i < packed_count_; ++i) {
      Entry x;
      x.seq = next_ - packed_count_ + i;
      x.time_ms = get<int64_t>(in, pos);
      const auto type_len = get<uint8_t>(in, pos);
      x.type.assign(in + pos, type_len);
      pos += type_len;
      const auto detail_len = get<uint32_t>(in, pos);
      x.detail.assign(in + pos, detail_len);
      pos += detail_len;
      out.push_back(std::move(x));
    }
    return out;
  }
  out.reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i) out.push_back(entries_[(oldest_ + i) % entries_.size()]);
  return out;
}

std::vector<Event> EventLog::snapshot(const std::string& actor, const std::string& name) const {
  std::lock_guard lock(mutex_);
  std::vector<Event> out;
  for (auto& x : unpacked()) {
    out.push_back(Event{x.seq, x.time_ms, actor, name, std::move(x.type), std::move(x.detail)});
  }
  return out;
}

void EventLog::compact() {
  std::lock_guard lock(mutex_);
  if (entries_.empty()) return;
  std::string packed;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& x = entries_[(oldest_ + i) % entries_.size()];
    const auto type_len = static_cast<uint8_t>(std::min<size_t>(x.type.size(), 255));
    put(packed, x.time_ms);
    put(packed, type_len);
    packed.append(x.type, 0, type_len);
    put(packed, static_cast<uint32_t>(x.detail.size()));
    packed += x.detail;
  }
  packed_count_ = static_cast<uint32_t>(entries_.size());
  packed_ = std::make_unique_for_overwrite<char[]>(packed.size());
  std::memcpy(packed_.get(), packed.data(), packed.size());
  std::vector<Entry>().swap(entries_);
  oldest_ = 0;
}

}  // namespace theater
