#pragma once
// One event as a line for people: time, actor, type (coloured by kind on a terminal), detail.
// Used by `theater run`, `theater server` and the client's `events`/`logs`.
#include <string>

#include "actor/events.hpp"

namespace theater::cli {

std::string format_event(const Event& e, bool color);

}  // namespace theater::cli
