// interp_while_compiling: an uncompiled module is served by the interpreter at once, the native
// build replaces it for later instances, and nothing waits for the compiler.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "engine/engine.hpp"
#include "engine/engine_conformance.hpp"
#include "support/wat.hpp"

namespace theater::engine {
namespace {

constexpr std::string_view kSum = R"((module
  (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $s)))
)";

uint64_t sum(Module& module, uint64_t n) {
  auto instance = module.instantiate({}, nullptr);
  instance->set_fuel(1 << 30);
  uint64_t args[1] = {n}, result[1] = {0};
  auto trap = instance->call("sum", args, result);
  EXPECT_FALSE(trap) << (trap ? trap->message : "");
  return result[0];
}

class TierUp : public ::testing::Test {
 protected:
  void SetUp() override {
    cache = std::filesystem::temp_directory_path() /
            ("theater-tierup-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(cache);
  }
  void TearDown() override { std::filesystem::remove_all(cache); }
  EngineConfig config(bool tier_up) {
    EngineConfig c;
    c.tier = Tier::Aot;
    c.cache_dir = cache;
    c.interp_while_compiling = tier_up;
    return c;
  }
  std::filesystem::path cache;
};

TEST_F(TierUp, ServesTheInterpreterUntilTheNativeBuildIsReady) {
  auto engine = Engine::create(config(true));
  ASSERT_EQ(engine->tier(), Tier::Aot);
  auto module = engine->load(test::wat_to_wasm(kSum), conformance::test_linker(), "sum.wat");
  // Nothing was cached in the fresh cache folder, so the first answer is the interpreter's.
  EXPECT_EQ(module->tier(), Tier::Interp);
  EXPECT_EQ(sum(*module, 100), 4950u);
  // Waits for the background compile (no assertion on how long it takes).
  for (int i = 0; i < 6000 && module->tier() != Tier::Aot; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(module->tier(), Tier::Aot);
  EXPECT_EQ(sum(*module, 100), 4950u);
  EXPECT_EQ(engine->stats().compiles, 1u);
  // Once compiled, a new engine on the same cache serves native code from the first instance.
  auto again = Engine::create(config(true))->load(test::wat_to_wasm(kSum), conformance::test_linker(), "sum.wat");
  EXPECT_EQ(again->tier(), Tier::Aot);
}

TEST_F(TierUp, OffMeansNativeFromTheFirstInstance) {
  auto engine = Engine::create(config(false));
  auto module = engine->load(test::wat_to_wasm(kSum), conformance::test_linker(), "sum.wat");
  EXPECT_EQ(module->tier(), Tier::Aot);
  EXPECT_EQ(sum(*module, 10), 45u);
}

TEST_F(TierUp, AnEngineDestroyedMidCompileDoesNotHang) {
  std::shared_ptr<Module> module;
  {
    auto engine = Engine::create(config(true));
    module = engine->load(test::wat_to_wasm(kSum), conformance::test_linker(), "sum.wat");
  }
  EXPECT_EQ(sum(*module, 10), 45u);
}

}  // namespace
}  // namespace theater::engine
