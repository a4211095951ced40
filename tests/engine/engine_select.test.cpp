#include <gtest/gtest.h>

#include "engine/engine.hpp"

namespace theater::engine {

TEST(EngineSelect, FallsBackToTheInterpreterWithoutACompiler) {
  auto engine = Engine::create(EngineConfig{.tier = Tier::Aot, .c_compiler = "/nonexistent/cc"});
  EXPECT_EQ(engine->tier(), Tier::Interp);
}

TEST(EngineSelect, AotWhenACompilerIsThere) {
  EXPECT_EQ(Engine::create(EngineConfig{.tier = Tier::Aot})->tier(), Tier::Aot);
  EXPECT_EQ(Engine::create(EngineConfig{.tier = Tier::Interp})->tier(), Tier::Interp);
}

}  // namespace theater::engine
