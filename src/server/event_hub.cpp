#include "server/event_hub.hpp"

namespace theater::server {

bool StreamFilter::matches(const Event& e) const {
  if (!actor.empty() && e.actor != actor) return false;
  return types.empty() || types.count(e.type) > 0;
}

void EventHub::publish(Event e) {
  {
    std::lock_guard lock(mutex_);
    account(e);
    ring_.push_back({next_id_++, std::move(e)});
    if (ring_.size() > keep_) ring_.pop_front();
  }
  cv_.notify_all();
}

void EventHub::account(const Event& e) {
  ++stats_.events_by_type[e.type];
  if (e.type == "failed") {
    // detail is "<kind>: <message>"
    const std::string kind = e.detail.substr(0, e.detail.find(':'));
    ++stats_.failures_by_kind[kind];
    pending_restart_kind_[e.actor] = kind;
  } else if (e.type == "restarting") {
    auto it = pending_restart_kind_.find(e.actor);
    // No failure of its own: restarted with a failed sibling or parent (one_for_all, rest_for_one).
    ++stats_.restarts_by_kind[it == pending_restart_kind_.end() ? "scope" : it->second];
    if (it != pending_restart_kind_.end()) pending_restart_kind_.erase(it);
  } else if (e.type == "created") {
    times_[e.actor].created_ms = e.time_ms;
  } else if (e.type == "started" || e.type == "restarted") {
    auto& t = times_[e.actor];
    if (!t.created_ms) t.created_ms = e.time_ms;
    t.started_ms = e.time_ms;
  } else if (e.type == "stopped" || e.type == "exited") {
    times_.erase(e.actor);
    pending_restart_kind_.erase(e.actor);
  }
}

void EventHub::mark_manual_restart(const std::string& id) {
  std::lock_guard lock(mutex_);
  pending_restart_kind_[id] = "manual";
}

std::vector<HubEvent> EventHub::read(uint64_t& cursor, const StreamFilter& filter, size_t max,
                                     std::chrono::milliseconds wait, bool* gap) {
  std::unique_lock lock(mutex_);
  const auto until = std::chrono::steady_clock::now() + wait;
  std::vector<HubEvent> out;
  for (;;) {
    if (gap && cursor > 0 && !ring_.empty() && ring_.front().id > cursor + 1) *gap = true;
    // Ids in the ring are consecutive: start right after the cursor.
    size_t start = 0;
    if (!ring_.empty() && cursor >= ring_.front().id) start = static_cast<size_t>(cursor - ring_.front().id + 1);
    for (size_t i = start; i < ring_.size(); ++i) {
      const HubEvent& he = ring_[i];
      cursor = he.id;
      if (filter.matches(he.event)) {
        out.push_back(he);
        if (out.size() >= max) return out;
      }
    }
    if (!out.empty() || closed_) return out;
    if (cv_.wait_until(lock, until) == std::cv_status::timeout) return out;
  }
}

uint64_t EventHub::last_id() const {
  std::lock_guard lock(mutex_);
  return next_id_ - 1;
}

void EventHub::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool EventHub::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

bool EventHub::try_open_stream(size_t limit) {
  std::lock_guard lock(mutex_);
  if (streams_ >= limit || closed_) return false;
  ++streams_;
  return true;
}

void EventHub::close_stream() {
  std::lock_guard lock(mutex_);
  if (streams_) --streams_;
}

size_t EventHub::streams() const {
  std::lock_guard lock(mutex_);
  return streams_;
}

EventHub::Stats EventHub::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::optional<EventHub::Times> EventHub::times(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = times_.find(id);
  if (it == times_.end()) return std::nullopt;
  return it->second;
}

}  // namespace theater::server
