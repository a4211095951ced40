#include "supervision/policy.hpp"

#include <gtest/gtest.h>

namespace theater::supervision {

TEST(SupervisionPolicy, RestartTypesFollowOtp) {
  SupervisionSpec spec;  // on_failure = restart
  EXPECT_EQ(decide(spec, RestartType::Permanent, true), Decision::Restart);
  EXPECT_EQ(decide(spec, RestartType::Transient, true), Decision::Restart);
  EXPECT_EQ(decide(spec, RestartType::Temporary, true), Decision::Stop);
  // Normal exit: only permanent children come back.
  EXPECT_EQ(decide(spec, RestartType::Permanent, false), Decision::Restart);
  EXPECT_EQ(decide(spec, RestartType::Transient, false), Decision::Stop);
  EXPECT_EQ(decide(spec, RestartType::Temporary, false), Decision::Stop);
}

TEST(SupervisionPolicy, OnFailureStopEscalateCustom) {
  SupervisionSpec spec;
  spec.on_failure = OnFailure::Stop;
  EXPECT_EQ(decide(spec, RestartType::Permanent, true), Decision::Stop);
  spec.on_failure = OnFailure::Escalate;
  EXPECT_EQ(decide(spec, RestartType::Permanent, true), Decision::Escalate);
  spec.on_failure = OnFailure::Custom;
  EXPECT_EQ(decide(spec, RestartType::Permanent, true, Decision::Stop), Decision::Stop);
  EXPECT_EQ(decide(spec, RestartType::Temporary, true, Decision::Restart), Decision::Stop);
  EXPECT_EQ(decide(spec, RestartType::Permanent, true, std::nullopt), Decision::Escalate);
}

TEST(SupervisionPolicy, IntensityCountsOnlyTheWindow) {
  SupervisionSpec spec;
  spec.max_restarts = 2;
  spec.within_ms = 1000;
  RestartHistory h;
  auto t0 = Clock::now();
  EXPECT_FALSE(restart_intensity_exceeded(h, t0, spec));
  EXPECT_FALSE(restart_intensity_exceeded(h, t0 + std::chrono::milliseconds(10), spec));
  EXPECT_TRUE(restart_intensity_exceeded(h, t0 + std::chrono::milliseconds(20), spec));
  RestartHistory slow;
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(restart_intensity_exceeded(slow, t0 + std::chrono::milliseconds(600 * i), spec));
  }
}

TEST(SupervisionPolicy, RestartScope) {
  EXPECT_EQ(restart_scope(Strategy::OneForOne, 4, 2), (std::vector<size_t>{2}));
  EXPECT_EQ(restart_scope(Strategy::OneForAll, 4, 2), (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(restart_scope(Strategy::RestForOne, 4, 1), (std::vector<size_t>{1, 2, 3}));
}

}  // namespace theater::supervision
