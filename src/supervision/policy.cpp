#include "supervision/policy.hpp"

#include <algorithm>

namespace theater::supervision {

const char* to_string(Decision d) {
  switch (d) {
    case Decision::Restart: return "restart";
    case Decision::Stop: return "stop";
    case Decision::Escalate: return "escalate";
  }
  return "?";
}

Decision decide(const SupervisionSpec& spec, RestartType child_restart, bool failed,
                std::optional<Decision> custom) {
  if (!failed) {
    // A normal exit is no failure: only permanent children come back, nothing escalates.
    return child_restart == RestartType::Permanent ? Decision::Restart : Decision::Stop;
  }
  Decision d = Decision::Restart;
  switch (spec.on_failure) {
    case OnFailure::Restart: d = Decision::Restart; break;
    case OnFailure::Stop: d = Decision::Stop; break;
    case OnFailure::Escalate: d = Decision::Escalate; break;
    case OnFailure::Custom: d = custom.value_or(Decision::Escalate); break;
  }
  if (d == Decision::Restart && child_restart == RestartType::Temporary) d = Decision::Stop;
  return d;
}

bool restart_intensity_exceeded(RestartHistory& history, Clock::time_point now, const SupervisionSpec& spec) {
  history.push_back(now);
  const auto window = std::chrono::milliseconds(spec.within_ms);
  const auto first_inside =
      std::find_if(history.begin(), history.end(), [&](Clock::time_point t) { return now - t <= window; });
  history.erase(history.begin(), first_inside);
  return history.size() > spec.max_restarts;
}

std::vector<size_t> restart_scope(Strategy strategy, size_t child_count, size_t failed) {
  std::vector<size_t> scope;
  switch (strategy) {
    case Strategy::OneForOne: scope.push_back(failed); break;
    case Strategy::OneForAll:
      for (size_t i = 0; i < child_count; ++i) scope.push_back(i);
      break;
    case Strategy::RestForOne:
      for (size_t i = failed; i < child_count; ++i) scope.push_back(i);
      break;
  }
  return scope;
}

}  // namespace theater::supervision
