#pragma once
// The interpreter tier: wabt's interpreter behind the Engine interface. Starts instantly (no
// compile) and needs no C compiler; about 100x slower than the AOT tier. It runs the same
// instrumented module as the AOT tier (fuel checks, memory.grow routed to the host), so deadlines,
// preemption and memory limits behave the same.
//
// Parsed modules are kept in-process by the SHA-256 of their bytes while any Module made from them
// is alive: loading the same bytes again skips validation, instrumentation and parsing
// (EngineStats::memory_hits). Each instance has its own wabt Store (its memory, 64 KiB a page,
// plus a copy of the module's code).
#include <memory>

#include "engine/engine.hpp"

namespace theater::engine {

std::unique_ptr<Engine> make_interp_engine(const EngineConfig& config);

}  // namespace theater::engine
