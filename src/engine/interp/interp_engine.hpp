#pragma once
// The interpreter tier: wabt's interpreter behind the Engine interface. Starts instantly (no
// compile) and needs no C compiler; about 100x slower than the AOT tier.
#include <memory>

#include "engine/engine.hpp"

namespace theater::engine {

std::unique_ptr<Engine> make_interp_engine(const EngineConfig& config);

}  // namespace theater::engine
