#pragma once
// Who monitors whom (Erlang's monitors): a watcher is told (Down) when its target stops. Kept in
// both directions, so that a target that stops finds its watchers, and a watcher that stops drops
// its own monitors, each in time of the log of the table plus what it finds, never by a walk over
// every monitor in the runtime (that made stopping N watchers cost N times all of them).
// A watcher may monitor one target more than once; each monitor is told, and demonitor removes
// one. Not synchronised: the runtime holds its lock around every call.
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace theater {

class MonitorTable {
 public:
  void add(const std::string& watcher, const std::string& target) {
    by_target_.emplace(target, watcher);
    by_watcher_.emplace(watcher, target);
  }
  // Removes one monitor of `target` by `watcher`; false if there is none.
  bool remove(const std::string& watcher, const std::string& target) {
    auto it = by_target_.find({target, watcher});
    if (it == by_target_.end()) return false;
    by_target_.erase(it);
    by_watcher_.erase(by_watcher_.find({watcher, target}));
    return true;
  }
  // The watchers of `target` (one entry per monitor), whose monitors are removed: it stopped.
  std::vector<std::string> take_watchers_of(const std::string& target) {
    std::vector<std::string> watchers;
    auto it = by_target_.lower_bound({target, std::string()});
    while (it != by_target_.end() && it->first == target) {
      by_watcher_.erase(by_watcher_.find({it->second, target}));
      watchers.push_back(it->second);
      it = by_target_.erase(it);
    }
    return watchers;
  }
  // Removes every monitor that `watcher` holds: it stopped, and watches nothing any more.
  void drop_watcher(const std::string& watcher) {
    auto it = by_watcher_.lower_bound({watcher, std::string()});
    while (it != by_watcher_.end() && it->first == watcher) {
      by_target_.erase(by_target_.find({it->second, watcher}));
      it = by_watcher_.erase(it);
    }
  }
  size_t size() const { return by_target_.size(); }

 private:
  using Pairs = std::multiset<std::pair<std::string, std::string>>;
  Pairs by_target_;   // (target, watcher)
  Pairs by_watcher_;  // (watcher, target)
};

}  // namespace theater
