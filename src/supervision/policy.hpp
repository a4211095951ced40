#pragma once
// The rules of supervision, in one readable place (as OTP's supervisor.erl keeps them):
// what a parent does when a child fails or exits, how far a restart reaches, and when a crash
// loop makes the parent give up. Pure functions: the runtime applies their answers.
#include <chrono>
#include <cstddef>
#include <vector>
#include <optional>
#include <vector>

#include "actor/manifest.hpp"

namespace theater::supervision {

using Clock = std::chrono::steady_clock;

enum class Decision { Restart, Stop, Escalate };
const char* to_string(Decision);

// A child failed (crash, error, timeout, memory, escalation) or exited normally.
// `custom` is the parent's theater_handle_child_error answer when the strategy is custom.
// OTP: permanent children always restart; transient ones only after a failure; temporary never.
Decision decide(const SupervisionSpec& spec, RestartType child_restart, bool failed,
                std::optional<Decision> custom = std::nullopt);

// Records a restart at `now` and says whether the parent has now restarted more than
// max_restarts children within within_ms (then it must stop its children and fail "escalated").
// The restarts within the window, oldest first: a vector, since it holds a few entries and an
// empty one costs no allocation (every actor has one).
using RestartHistory = std::vector<Clock::time_point>;
bool restart_intensity_exceeded(RestartHistory& history, Clock::time_point now, const SupervisionSpec& spec);

// Which children a restart of children[failed] reaches, in start order:
// one_for_one -> just it; one_for_all -> all; rest_for_one -> it and those started after it.
// They are stopped in reverse of this order and started again in this order; a temporary one
// (other than the failed child) is stopped for good instead (Runtime::restart_scope).
std::vector<size_t> restart_scope(Strategy strategy, size_t child_count, size_t failed);

}  // namespace theater::supervision
