// Savina-style actor workloads on CAF 0.17 (the C++ Actor Framework), the native C++ side of
// Theater's benchmark comparison (bench/compare runs this next to `theater bench` and
// bench/erlang/savina). The parameters are the same in all three; see bench/README.md.
//
//   theater_caf_bench [WORKLOAD...] [--json]
//
// Every actor is an event-based actor on CAF's work-stealing scheduler, with one worker thread
// per core. The main thread drives each workload through a scoped_actor (a blocking actor
// living in the calling thread): it sends the start signal, blocks until the workload reports
// that it is done, then stops the actors and checks what they counted. Every workload checks
// its result, and the program exits 1 if one of them is wrong.
#include <caf/all.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace {

constexpr int64_t kPingPongRounds = 100'000;
constexpr int64_t kCountingMessages = 1'000'000;
constexpr int kRingActors = 100;
constexpr int64_t kRingHops = 1'000'000;
constexpr int kForkJoinWorkers = 32;
constexpr int64_t kForkJoinMessagesPerWorker = 10'000;
constexpr int kForkJoinIterations = 100;
constexpr int kBigActors = 100;
constexpr int64_t kBigPingsPerActor = 10'000;
constexpr int64_t kSpawnChildren = 10'000;
constexpr int kMemoryActors = 10'000;
constexpr int64_t kRequests = 100'000;

using go_atom = caf::atom_constant<caf::atom("go")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using inc_atom = caf::atom_constant<caf::atom("inc")>;
using total_atom = caf::atom_constant<caf::atom("total")>;
using next_atom = caf::atom_constant<caf::atom("next")>;
using work_atom = caf::atom_constant<caf::atom("work")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using started_atom = caf::atom_constant<caf::atom("started")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;

// A workload that runs this long is stuck (a lost message): it fails instead of hanging.
constexpr auto kStuck = std::chrono::minutes(2);

// A wrong result, reported by the workload that computed it.
struct WrongResult {
  std::string what;
  int64_t expected;
  int64_t got;
};

void check(const char* what, int64_t expected, int64_t got) {
  if (expected != got) throw WrongResult{what, expected, got};
}

// Seconds taken by f().
template <class F>
double timed(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The driver: the main thread's blocking actor, plus a handle the workload's actors report to.
struct Driver {
  caf::actor_system& system;
  caf::scoped_actor self{system};
  caf::actor handle = caf::actor_cast<caf::actor>(self);

  // Blocks until a message that `handler` accepts arrives, and runs it.
  template <class Handler>
  void wait(Handler handler) {
    bool stuck = false;
    self->receive(handler, caf::after(kStuck) >> [&] { stuck = true; });
    if (stuck) throw WrongResult{"(timed out waiting for the workload)", 0, 0};
  }

  // Starts a workload (`go` to its first actor) and times it until it reports (done, n).
  std::pair<double, int64_t> go_until_done(const caf::actor& first) {
    int64_t n = 0;
    double seconds = timed([&] {
      self->send(first, go_atom::value);
      wait([&](done_atom, int64_t x) { n = x; });
    });
    return {seconds, n};
  }

  // Asks an actor for its final numbers (the reply to `stop`), after which it terminates.
  template <class... Ts>
  std::tuple<Ts...> stop(const caf::actor& actor) {
    std::tuple<Ts...> result{};
    bool failed = false;
    self->request(actor, kStuck, stop_atom::value)
        .receive([&](Ts... xs) { result = {xs...}; }, [&](caf::error&) { failed = true; });
    if (failed) throw WrongResult{"(no answer to stop)", 0, 0};
    return result;
  }
};

// State of an actor that only counts what it handled.
struct Count {
  int64_t n = 0;
};

// ---- ping-pong and request: round trips between a caller and a numbering responder ----------
// The same exchange twice: in ping-pong the caller sends and the answer comes back as an
// ordinary message; in request the caller sends a request and waits for its reply.

// Answers every `ping` with its number (1, 2, ...). A handler's return value is CAF's reply: to
// a request it is the response, to a plain send it goes back to the sender as a message.
caf::behavior responder(caf::stateful_actor<Count>* self) {
  return {
      [=](ping_atom) { return std::make_tuple(pong_atom::value, ++self->state.n); },
      [=](stop_atom) {
        self->quit();
        return self->state.n;
      },
  };
}

struct CallerState {
  int64_t sent = 0;
  int64_t in_order = 0;  // replies that carried the number of their ping
};

// Counts a reply and says whether another round is due; after the last, reports to the driver.
bool another_round(caf::stateful_actor<CallerState>* self, const caf::actor& driver,
                   int64_t reply, int64_t rounds) {
  auto& s = self->state;
  if (reply == s.sent) ++s.in_order;
  if (s.sent < rounds) return true;
  self->send(driver, done_atom::value, s.in_order);
  self->quit();
  return false;
}

caf::behavior ping(caf::stateful_actor<CallerState>* self, caf::actor driver, caf::actor pong,
                   int64_t rounds) {
  auto send_ping = [=] {
    ++self->state.sent;
    self->send(pong, ping_atom::value);
  };
  return {
      [=](go_atom) { send_ping(); },
      [=](pong_atom, int64_t reply) {
        if (another_round(self, driver, reply, rounds)) send_ping();
      },
  };
}

// await() is CAF's "wait for the reply": until it arrives the caller handles no other message,
// as with gen_server:call, yet no thread blocks (a blocking actor's request().receive() would
// hold a thread, and the callers of the other runtimes do not).
void request_next(caf::stateful_actor<CallerState>* self, caf::actor driver, caf::actor server,
                  int64_t requests) {
  ++self->state.sent;
  self->request(server, caf::infinite, ping_atom::value).await([=](pong_atom, int64_t reply) {
    if (another_round(self, driver, reply, requests))
      request_next(self, driver, server, requests);
  });
}

caf::behavior client(caf::stateful_actor<CallerState>* self, caf::actor driver,
                     caf::actor server, int64_t requests) {
  return {
      [=](go_atom) { request_next(self, driver, server, requests); },
  };
}

// Microseconds per round trip, once both sides have counted every one of them.
template <class Caller>
double round_trips(Driver& d, Caller caller, int64_t rounds) {
  auto server = d.system.spawn(responder);
  auto caller_actor = d.system.spawn(caller, d.handle, server, rounds);
  auto [seconds, in_order] = d.go_until_done(caller_actor);
  check("replies in order", rounds, in_order);
  check("pings answered", rounds, std::get<0>(d.stop<int64_t>(server)));
  return seconds * 1e6 / rounds;
}

double ping_pong(Driver& d) { return round_trips(d, ping, kPingPongRounds); }

double request(Driver& d) { return round_trips(d, client, kRequests); }

// ---- counting: one producer floods one counter, then asks for the total ---------------------
caf::behavior counter(caf::stateful_actor<Count>* self) {
  return {
      [=](inc_atom) { ++self->state.n; },
      [=](total_atom) {
        self->quit();
        return self->state.n;
      },
  };
}

caf::behavior producer(caf::event_based_actor* self, caf::actor driver, caf::actor counter_actor,
                       int64_t messages) {
  return {
      [=](go_atom) {
        for (int64_t i = 0; i < messages; ++i) self->send(counter_actor, inc_atom::value);
        // then(): the producer has nothing else to do, so it need not block its other messages.
        self->request(counter_actor, caf::infinite, total_atom::value).then([=](int64_t total) {
          self->send(driver, done_atom::value, total);
          self->quit();
        });
      },
  };
}

double counting(Driver& d) {
  auto counter_actor = d.system.spawn(counter);
  auto producer_actor = d.system.spawn(producer, d.handle, counter_actor, kCountingMessages);
  auto [seconds, total] = d.go_until_done(producer_actor);
  check("total", kCountingMessages, total);
  return kCountingMessages / seconds;
}

// ---- thread-ring: a token of remaining hops goes round a ring of actors ---------------------
struct RingState {
  caf::actor next;
  int64_t forwarded = 0;
};

// The token is a bare integer. A node learns its successor from a `next` message, which the
// driver enqueues before it injects the token, so no token can reach a node before it.
caf::behavior ring_node(caf::stateful_actor<RingState>* self, caf::actor driver) {
  return {
      [=](next_atom, caf::actor next) { self->state.next = std::move(next); },
      [=](int64_t hops) {
        if (hops == 0) {
          self->send(driver, done_atom::value);
        } else {
          self->send(self->state.next, hops - 1);
          ++self->state.forwarded;
        }
      },
      [=](stop_atom) {
        self->quit();  // and the state, with its `next`, goes: the ring's cycle is broken
        return self->state.forwarded;
      },
  };
}

double thread_ring(Driver& d) {
  std::vector<caf::actor> nodes;
  for (int i = 0; i < kRingActors; ++i) nodes.push_back(d.system.spawn(ring_node, d.handle));
  for (int i = 0; i < kRingActors; ++i)
    d.self->send(nodes[i], next_atom::value, nodes[(i + 1) % kRingActors]);
  double seconds = timed([&] {
    d.self->send(nodes[0], kRingHops);
    d.wait([](done_atom) {});
  });
  int64_t forwarded = 0;
  for (auto& node : nodes) forwarded += std::get<0>(d.stop<int64_t>(node));
  check("hops", kRingHops, forwarded);
  return kRingHops / seconds;
}

// ---- fork-join: round-robin to 32 workers, each message costs a little arithmetic ----------
uint32_t lcg(uint32_t x, int64_t iterations) {
  for (int64_t i = 0; i < iterations; ++i) x = x * 1103515245u + 12345u;
  return x;
}

struct WorkerState {
  int64_t left = 0;
  uint32_t x = 1;  // sent to the driver at the end, so the arithmetic cannot be optimised away
};

caf::behavior fj_worker(caf::stateful_actor<WorkerState>* self, caf::actor driver,
                        int64_t messages) {
  self->state.left = messages;
  return {
      [=](work_atom) {
        self->state.x = lcg(self->state.x, kForkJoinIterations);
        if (--self->state.left == 0) {
          self->send(driver, done_atom::value, int64_t{self->state.x});
          self->quit();
        }
      },
  };
}

caf::behavior fj_sender(caf::event_based_actor* self, std::vector<caf::actor> workers,
                        int64_t rounds) {
  return {
      [=](go_atom) {
        for (int64_t r = 0; r < rounds; ++r)
          for (auto& worker : workers) self->send(worker, work_atom::value);
        self->quit();
      },
  };
}

double fork_join(Driver& d) {
  std::vector<caf::actor> workers;
  for (int i = 0; i < kForkJoinWorkers; ++i)
    workers.push_back(d.system.spawn(fj_worker, d.handle, kForkJoinMessagesPerWorker));
  auto sender = d.system.spawn(fj_sender, workers, kForkJoinMessagesPerWorker);
  std::vector<int64_t> finals;
  double seconds = timed([&] {
    d.self->send(sender, go_atom::value);
    for (int i = 0; i < kForkJoinWorkers; ++i)
      d.wait([&](done_atom, int64_t x) { finals.push_back(x); });
  });
  // Every worker ran the generator the same number of times from the same seed.
  int64_t expected = lcg(1, kForkJoinMessagesPerWorker * kForkJoinIterations);
  for (int64_t x : finals) check("worker result", expected, x);
  return kForkJoinWorkers * kForkJoinMessagesPerWorker / seconds;
}

// ---- big: 100 actors ping random peers, one outstanding ping each --------------------------
struct BigState {
  std::vector<caf::actor> peers;
  size_t me = 0;
  int64_t left = 0;
  int64_t pongs = 0;
  int64_t answered = 0;
  std::minstd_rand rng;
};

// Sends the next ping to a random peer other than itself.
void big_ping(caf::stateful_actor<BigState>* self) {
  auto& s = self->state;
  std::uniform_int_distribution<size_t> pick(0, s.peers.size() - 2);
  size_t peer = pick(s.rng);
  if (peer >= s.me) ++peer;
  --s.left;
  self->send(s.peers[peer], ping_atom::value);
}

caf::behavior big_actor(caf::stateful_actor<BigState>* self, caf::actor driver, size_t me,
                        int64_t pings) {
  self->state.me = me;
  self->state.left = pings;
  self->state.rng.seed(me + 1);
  return {
      // The peer table is also the start signal.
      [=](peers_atom, std::vector<caf::actor> peers) {
        self->state.peers = std::move(peers);
        big_ping(self);
      },
      [=](ping_atom) {
        ++self->state.answered;
        return pong_atom::value;
      },
      [=](pong_atom) {
        ++self->state.pongs;
        if (self->state.left > 0)
          big_ping(self);
        else
          self->send(driver, done_atom::value);  // and keeps answering the others' pings
      },
      [=](stop_atom) {
        self->quit();
        return std::make_tuple(self->state.pongs, self->state.answered);
      },
  };
}

double big(Driver& d) {
  std::vector<caf::actor> actors;
  for (int i = 0; i < kBigActors; ++i)
    actors.push_back(d.system.spawn(big_actor, d.handle, size_t(i), kBigPingsPerActor));
  double seconds = timed([&] {
    for (auto& a : actors) d.self->send(a, peers_atom::value, actors);
    for (int i = 0; i < kBigActors; ++i) d.wait([](done_atom) {});
  });
  int64_t answered = 0;
  for (auto& a : actors) {
    auto [pongs, their_answers] = d.stop<int64_t, int64_t>(a);
    check("pongs of an actor", kBigPingsPerActor, pongs);
    answered += their_answers;
  }
  int64_t pings = int64_t{kBigActors} * kBigPingsPerActor;
  check("pings answered", pings, answered);
  return 2 * pings / seconds;
}

// ---- spawn: one after another, each child reports that it runs ------------------------------
// A child without a behavior: it runs this function and terminates.
void spawn_child(caf::event_based_actor* self, caf::actor parent) {
  self->send(parent, started_atom::value);
}

struct ParentState {
  caf::actor child;
  int64_t started = 0;
};

caf::behavior spawn_parent(caf::stateful_actor<ParentState>* self, caf::actor driver,
                           int64_t children) {
  auto spawn_next = [=] {
    self->state.child = self->spawn(spawn_child, caf::actor_cast<caf::actor>(self));
  };
  return {
      [=](go_atom) { spawn_next(); },
      [=](started_atom) {
        // Only the child just spawned may answer.
        if (self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(self->state.child))
          return;
        if (++self->state.started < children) {
          spawn_next();
        } else {
          self->send(driver, done_atom::value, self->state.started);
          self->quit();
        }
      },
  };
}

double spawn_children(Driver& d) {
  auto parent = d.system.spawn(spawn_parent, d.handle, kSpawnChildren);
  auto [seconds, started] = d.go_until_done(parent);
  check("children started", kSpawnChildren, started);
  return seconds * 1e6 / kSpawnChildren;
}

// ---- memory: resident memory of idle actors -------------------------------------------------
int64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

caf::behavior idle_actor(caf::event_based_actor* self, caf::actor driver) {
  self->send(driver, ready_atom::value);
  return {
      [=](stop_atom) { self->quit(); },
  };
}

double memory(Driver& d) {
  int64_t before = rss_bytes();
  std::vector<caf::actor> idle;
  idle.reserve(kMemoryActors);
  for (int i = 0; i < kMemoryActors; ++i) idle.push_back(d.system.spawn(idle_actor, d.handle));
  // Each has run its initialisation (and so allocated what it needs) once it says `ready`.
  int64_t ready = 0;
  for (int i = 0; i < kMemoryActors; ++i) d.wait([&](ready_atom) { ++ready; });
  check("actors ready", kMemoryActors, ready);
  int64_t after = rss_bytes();
  for (auto& a : idle) d.self->send(a, stop_atom::value);
  return double(after - before) / kMemoryActors;
}

// ---- the runner -----------------------------------------------------------------------------
struct Workload {
  std::string_view name;
  double (*run)(Driver&);
  std::string_view unit;
};

// The order `bench/compare` and the other runners use.
constexpr Workload kWorkloads[] = {
    {"ping-pong", ping_pong, "us/roundtrip"}, {"counting", counting, "msg/s"},
    {"thread-ring", thread_ring, "msg/s"},    {"fork-join", fork_join, "msg/s"},
    {"big", big, "msg/s"},                    {"spawn", spawn_children, "us/spawn"},
    {"memory", memory, "bytes/actor"},        {"request", request, "us/request"},
};

// Rates are large numbers (printed whole); latencies are a few microseconds.
std::string format_value(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, v >= 1000 ? "%.0f" : "%.3f", v);
  return buf;
}

int usage(const std::string& why) {
  std::fprintf(stderr, "%s\nusage: theater_caf_bench [WORKLOAD...] [--json]\nworkloads:",
               why.c_str());
  for (auto& w : kWorkloads) std::fprintf(stderr, " %s", w.name.data());
  std::fprintf(stderr, "\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  std::vector<const Workload*> selected;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--json") {
      json = true;
      continue;
    }
    auto it = std::find_if(std::begin(kWorkloads), std::end(kWorkloads),
                           [&](const Workload& w) { return w.name == arg; });
    if (it == std::end(kWorkloads)) return usage("unknown workload: " + std::string(arg));
    selected.push_back(it);
  }
  if (selected.empty())
    for (auto& w : kWorkloads) selected.push_back(&w);

  caf::actor_system_config cfg;
  // CAF's default is max(cores, 4) workers; the comparison gives every runtime one per core.
  cfg.set("scheduler.max-threads", size_t{std::max(1u, std::thread::hardware_concurrency())});
  caf::actor_system system{cfg};

  // `memory` goes first: the message floods of the other workloads grow the heap, and memory
  // malloc keeps after they free it would be reused by the idle actors, hiding them.
  std::vector<const Workload*> order;
  for (auto* w : selected)
    if (w->name == "memory") order.push_back(w);
  for (auto* w : selected)
    if (w->name != "memory") order.push_back(w);

  std::vector<std::pair<const Workload*, std::optional<double>>> results;
  bool failed = false;
  for (auto* w : order) {
    std::fprintf(stderr, "caf: running %s\n", w->name.data());
    try {
      Driver driver{system};
      results.emplace_back(w, w->run(driver));
    } catch (const WrongResult& wrong) {
      std::fprintf(stderr, "caf: %s: wrong %s: expected %lld, got %lld\n", w->name.data(),
                   wrong.what.c_str(), static_cast<long long>(wrong.expected),
                   static_cast<long long>(wrong.got));
      results.emplace_back(w, std::nullopt);
      failed = true;
    }
  }

  if (!json) std::printf("%-12s %14s  %s\n", "workload", "value", "unit");
  for (auto* w : selected) {
    auto it = std::find_if(results.begin(), results.end(),
                           [&](auto& r) { return r.first == w; });
    const auto& value = it->second;
    if (json && value)
      std::printf("{\"workload\": \"%s\", \"value\": %s, \"unit\": \"%s\"}\n", w->name.data(),
                  format_value(*value).c_str(), w->unit.data());
    else if (!json)
      std::printf("%-12s %14s  %s\n", w->name.data(),
                  value ? format_value(*value).c_str() : "WRONG RESULT", w->unit.data());
  }
  if (failed) {
    // A failed workload may have left actors running, and the actor_system destructor would
    // wait for them forever: leave without it.
    std::fflush(stdout);
    std::_Exit(1);
  }
  return 0;
}
