// Messaging through the scheduler, end to end with wasm actors (tests/actors/sequencer.c): per-pair
// order from many senders on many threads with nothing lost, fairness to others while one actor
// computes, request timeouts, and a request deadlock that ends in ETIMEOUT.
#include <thread>

#include <fmt/format.h>

#include "base/counters.hpp"
#include "runtime_fixture.hpp"

namespace theater::test {

using namespace std::chrono_literals;

class MessagingTest : public RuntimeTest {
 protected:
  // A fresh runtime on this tier with `workers` worker threads.
  void use_workers(unsigned workers) {
    RuntimeConfig config;
    config.engine.tier = GetParam();
    config.workers = workers;
    make_runtime(config);
  }
  // A sequencer flooding another that computes for `spin_ms`: returns (receiver, sender) once the
  // flood has piled up, so that the sender waits for the receiver to drain.
  std::pair<std::string, std::string> flood_a_busy_receiver(int spin_ms, long long count) {
    const auto receiver = runtime->spawn(example("sequencer"));
    const auto sender = runtime->spawn(example("sequencer"));
    EXPECT_EQ(runtime->send(receiver, fmt::format("spin {}", spin_ms)), abi::kOk);
    EXPECT_EQ(runtime->send(sender, fmt::format("burst {} s {}", receiver, count)), abi::kOk);
    const auto target = runtime->find(receiver);
    for (int i = 0; i < 2000 && target->mailbox_depth() < Actor::kSendBacklog; ++i) std::this_thread::sleep_for(1ms);
    EXPECT_GE(target->mailbox_depth(), Actor::kSendBacklog);
    return {receiver, sender};
  }
};

// The /metrics counters count every message accepted into a mailbox and every one handled:
// sends from an actor (counted as they are pushed) and from outside, and a request; the handled
// ones are added once per turn.
TEST_P(MessagingTest, TheCountersCountEveryMessageSentAndHandled) {
  constexpr int kBurst = 3000;
  const auto checker = runtime->spawn(example("sequencer"));
  const auto sender = runtime->spawn(example("sequencer"));
  settle();
  const uint64_t sent_before = runtime_counters().messages_sent.value();
  const uint64_t handled_before = runtime_counters().messages_handled.value();
  ASSERT_EQ(runtime->send(sender, fmt::format("burst {} s {}", checker, kBurst)), abi::kOk);
  settle();
  EXPECT_EQ(runtime->request(checker, "report").reply, fmt::format("received={} violations=0", kBurst));
  settle();
  // The burst command, the burst, the report request (the counters are process-wide; tests run
  // one at a time).
  EXPECT_EQ(runtime_counters().messages_sent.value() - sent_before, 1u + kBurst + 1u);
  EXPECT_EQ(runtime_counters().messages_handled.value() - handled_before, 1u + kBurst + 1u);
}

TEST_P(MessagingTest, PerSenderOrderAndNoLossFromManyActorsAndThreads) {
  constexpr int kActorSenders = 8, kThreadSenders = 4, kEach = 2000;
  const auto checker = runtime->spawn(example("sequencer"));
  std::vector<std::string> senders;
  for (int i = 0; i < kActorSenders; ++i) senders.push_back(runtime->spawn(example("sequencer")));
  // Actor senders: each sends its burst from its own turns, on whichever worker runs it.
  for (int i = 0; i < kActorSenders; ++i) {
    ASSERT_EQ(runtime->send(senders[i], fmt::format("burst {} actor{} {}", checker, i, kEach)), abi::kOk);
  }
  // Outside senders on their own threads, at the same time.
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreadSenders; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 1; n <= kEach; ++n) {
        while (runtime->send(checker, fmt::format("seq thread{} {}", t, n)) == abi::kEFULL) std::this_thread::yield();
      }
    });
  }
  for (auto& t : threads) t.join();
  settle();
  EXPECT_EQ(runtime->request(checker, "report").reply,
            fmt::format("received={} violations=0", (kActorSenders + kThreadSenders) * kEach));
  EXPECT_TRUE(events_of(checker, "undeliverable").empty());
}

TEST_P(MessagingTest, ABusyActorDoesNotStarveOthersOnOneWorker) {
  RuntimeConfig config;
  config.engine.tier = GetParam();
  config.workers = 1;  // the busy actor and the others share the only worker
  make_runtime(config);
  auto busy_manifest = example("sequencer");
  busy_manifest.limits.handler_timeout_ms = 20000;
  const auto busy = runtime->spawn(busy_manifest);
  const auto other = runtime->spawn(example("echo"));
  ASSERT_EQ(runtime->send(busy, "spin 4000"), abi::kOk);
  std::this_thread::sleep_for(50ms);  // the spin has started
  // Preemption gives the worker to the echo actor long before the spin ends (a starved echo
  // would answer only after about four seconds, past this timeout).
  auto r = runtime->request(other, "still here", 2s);
  EXPECT_EQ(r.rc, abi::kOk);
  EXPECT_EQ(r.reply, "still here");
  // Meanwhile the busy actor itself cannot answer: the request times out, and its late reply is
  // dropped and recorded once the spin is over.
  EXPECT_EQ(runtime->request(busy, "report", 100ms).rc, abi::kETIMEOUT);
  settle();
  EXPECT_EQ(events_of(busy, "reply-dropped").size(), 1u);
}

// The send penalty (Actor::after_send): on one worker, a burst to a slower receiver would queue
// all of it before the receiver's first turn; the sender instead waits whenever the receiver
// has kSendBacklog messages waiting (then sends kSendBurst more before it looks again), so the
// backlog stays there. Nothing is lost.
TEST_P(MessagingTest, ASenderFasterThanItsReceiverWaitsForIt) {
  use_workers(1);
  constexpr int kBurst = 20000;
  const auto checker = runtime->spawn(example("sequencer"));
  const auto sender = runtime->spawn(example("sequencer"));
  const auto receiver = runtime->find(checker);
  std::atomic<bool> done{false};
  size_t deepest = 0;
  std::thread watch([&] {
    while (!done.load()) {
      deepest = std::max(deepest, receiver->mailbox_depth());
      std::this_thread::sleep_for(20us);
    }
  });
  ASSERT_EQ(runtime->send(sender, fmt::format("burst {} s {}", checker, kBurst)), abi::kOk);
  settle();
  done.store(true);
  watch.join();
  EXPECT_EQ(runtime->request(checker, "report").reply, fmt::format("received={} violations=0", kBurst));
  // (Past kSendBacklog + kSendBurst the sender waits after every send; it may be resumed once
  // or twice before the receiver's next turn.)
  EXPECT_LE(deepest, Actor::kSendBacklog + 2 * Actor::kSendBurst);
  EXPECT_TRUE(events_of(sender, "failed").empty());
}

// On two workers a flooding sender waits until its receiver has worked the backlog down, and it
// is the receiver that wakes it (at the end of a turn), not the sender's fallback timer.
TEST_P(MessagingTest, AFloodingSenderIsWokenByItsDrainedReceiver) {
  use_workers(2);
  constexpr int kBurst = 20000;
  const auto checker = runtime->spawn(example("sequencer"));
  const auto sender = runtime->spawn(example("sequencer"));
  const uint64_t waits_before = runtime_counters().drain_waits.value();
  const uint64_t wakes_before = runtime_counters().drain_wakes.value();
  ASSERT_EQ(runtime->send(sender, fmt::format("burst {} s {}", checker, kBurst)), abi::kOk);
  settle();
  EXPECT_EQ(runtime->request(checker, "report").reply, fmt::format("received={} violations=0", kBurst));
  EXPECT_TRUE(events_of(sender, "failed").empty());
  // (The counters are process-wide; tests run one at a time.) The sender outruns the
  // sequencer, whose handler checks every message's order.
  EXPECT_GT(runtime_counters().drain_waits.value(), waits_before);
  EXPECT_GT(runtime_counters().drain_wakes.value(), wakes_before);
}

// Two actors flooding each other: neither mailbox drains while both handlers run, so a sender
// whose receiver is itself waiting gives its worker up instead of waiting for it, and both
// floods arrive whole. Nothing hangs.
TEST_P(MessagingTest, TwoActorsFloodingEachOtherBothFinish) {
  use_workers(2);
  constexpr int kBurst = 5000;
  const auto a = runtime->spawn(example("sequencer"));
  const auto b = runtime->spawn(example("sequencer"));
  ASSERT_EQ(runtime->send(a, fmt::format("burst {} a {}", b, kBurst)), abi::kOk);
  ASSERT_EQ(runtime->send(b, fmt::format("burst {} b {}", a, kBurst)), abi::kOk);
  settle();
  EXPECT_EQ(runtime->request(a, "report").reply, fmt::format("received={} violations=0", kBurst));
  EXPECT_EQ(runtime->request(b, "report").reply, fmt::format("received={} violations=0", kBurst));
  EXPECT_TRUE(events_of(a, "failed").empty());
  EXPECT_TRUE(events_of(b, "failed").empty());
}

// A receiver stopped while a sender waits for it to drain wakes the sender, whose next send
// gets ESTOPPED (the sequencer's burst then fails its handler): the wait does not outlive it.
TEST_P(MessagingTest, StoppingAReceiverEndsTheWaitOfItsFloodingSender) {
  use_workers(2);
  const auto [receiver, sender] = flood_a_busy_receiver(300, 1000000);
  ASSERT_TRUE(runtime->stop(receiver));
  settle();
  EXPECT_EQ(events_of(sender, "failed").size(), 1u);
}

// A waiting sender is woken by its receiver once the backlog drains, and by a timer
// (Actor::kDrainWaitMax) if that does not come: a receiver that computes for long (or a lost wake)
// never leaves it stuck. Each time, it sends a burst more and waits again.
TEST_P(MessagingTest, ASenderWaitingForADrainThatDoesNotComeIsWokenByItsTimer) {
  use_workers(2);
  const auto [receiver, sender] = flood_a_busy_receiver(2000, 100000000);
  const uint64_t waits_before = runtime_counters().drain_waits.value();
  std::this_thread::sleep_for(Actor::kDrainWaitMax * 15);  // the receiver still computes
  const uint64_t waits = runtime_counters().drain_waits.value() - waits_before;
  EXPECT_GE(waits, 3u) << "the sender stayed in one wait";
  EXPECT_GT(runtime->find(receiver)->mailbox_depth(), Actor::kSendBacklog + Actor::kSendBurst)
      << "no burst was sent after a timer's wake";
  ASSERT_TRUE(runtime->stop(sender));
  ASSERT_TRUE(runtime->stop(receiver));
  settle();
}

// A sender stopped while it waits for its receiver to drain ends its handler there, as a
// request's wait does: it is not left to flood on until the shutdown deadline kills it.
TEST_P(MessagingTest, StoppingAFloodingSenderEndsItsHandlerAtTheWait) {
  use_workers(2);
  const auto [receiver, sender] = flood_a_busy_receiver(1000, 100000000);
  ASSERT_TRUE(runtime->stop(sender));
  settle();
  EXPECT_EQ(events_of(sender, "stopped").size(), 1u);
  EXPECT_TRUE(events_of(sender, "killed").empty()) << "the handler flooded on until the shutdown deadline";
  EXPECT_LT(runtime->find(receiver)->mailbox_depth(), Actor::kSendBacklog + 2 * Actor::kSendBurst);
}

TEST_P(MessagingTest, TwoActorsWaitingOnEachOtherEndInEtimeout) {
  const auto a = runtime->spawn(example("sequencer"));
  const auto b = runtime->spawn(example("sequencer"));
  // a asks b; b, to answer, asks a, which is still waiting for b: a deadlock. b's request times
  // out after 300 ms; b answers a with ETIMEOUT; a answers us with it. Nothing hangs.
  auto r = runtime->request(a, fmt::format("ask {} 300", b), 20s);
  EXPECT_EQ(r.rc, abi::kOk);
  EXPECT_EQ(r.reply, std::to_string(abi::kETIMEOUT));
  settle();
  // a answered b's request after b had given up: dropped and recorded.
  EXPECT_EQ(events_of(a, "reply-dropped").size(), 1u);
  EXPECT_TRUE(events_of(a, "failed").empty());
  EXPECT_TRUE(events_of(b, "failed").empty());
}

// A sender remembers where its last message went (SendTarget), but never past a change of the
// registry: once the target is stopped and gone, the next send learns it as a lookup would
// (ENOTFOUND), not from the stopped actor it remembered (ESTOPPED), and a new actor is found.
TEST_P(MessagingTest, ARememberedTargetIsForgottenWhenTheRegistryChanges) {
  const auto first = runtime->spawn(example("sequencer"));
  SendTarget cache;
  ASSERT_EQ(runtime->send(first, "seq a 1", "external", &cache), abi::kOk);
  ASSERT_EQ(cache.actor, runtime->find(first));
  ASSERT_EQ(runtime->send(first, "seq a 2", "external", &cache), abi::kOk);  // from the cache
  EXPECT_EQ(runtime->request(first, "report").reply, "received=2 violations=0");
  ASSERT_TRUE(runtime->stop(first));
  EXPECT_EQ(runtime->send(first, "seq a 3", "external", &cache), abi::kENOTFOUND);
  const auto second = runtime->spawn(example("sequencer"));
  EXPECT_EQ(runtime->send(second, "seq b 1", "external", &cache), abi::kOk);
  EXPECT_EQ(cache.actor, runtime->find(second));
  EXPECT_EQ(runtime->request(second, "report").reply, "received=1 violations=0");
}

INSTANTIATE_TEST_SUITE_P(Tiers, MessagingTest, ::testing::Values(engine::Tier::Aot, engine::Tier::Interp),
                         tier_name);

}  // namespace theater::test
