#include "engine/engine.hpp"

#include <spdlog/spdlog.h>

#include "engine/aot/aot_engine.hpp"
#include "engine/interp/interp_engine.hpp"

namespace theater::engine {

std::unique_ptr<Engine> Engine::create(EngineConfig config) {
  if (config.tier == Tier::Aot) {
    std::string why;
    if (auto aot = make_aot_engine(config, &why)) return aot;
    spdlog::warn("AOT engine unavailable ({}); using the interpreter", why);
  }
  return make_interp_engine(config);
}

}  // namespace theater::engine
