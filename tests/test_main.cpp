// Test entry point: compiled modules are cached inside the build folder, so a second run of the
// suite compiles nothing.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

int main(int argc, char** argv) {
  ::setenv("THEATER_CACHE", THEATER_BUILD_DIR "/aot-cache", 0);
  spdlog::set_level(spdlog::level::warn);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
