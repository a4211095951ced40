#include "actor/actor.hpp"

#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "abi/abi.hpp"
#include "base/counters.hpp"
#include "base/files.hpp"
#include "actor/runtime.hpp"
#include "engine/resolve.hpp"
#include "state/io.hpp"

namespace theater {

namespace {
// The monotonic clock as the kernel last ticked it (a few ms behind): for hibernation's idle
// time, read at every turn's end, where the exact clock would cost a short turn ~5% more.
int64_t coarse_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
// How far apart two coarse readings may be from the exact time between them: its tick.
int64_t coarse_clock_tick_ns() {
  static const int64_t tick = [] {
    timespec res{};
    clock_getres(CLOCK_MONOTONIC_COARSE, &res);
    return int64_t{res.tv_sec} * 1'000'000'000 + res.tv_nsec;
  }();
  return tick;
}

constexpr int kMessageBudget = 256;  // messages per turn before others get the worker (a whole send backlog)
constexpr auto kTimeSlice = std::chrono::milliseconds(10);  // preempt long handlers after this
constexpr int32_t kFuelSlice = 200000;  // units between checks of the deadline and time slice
constexpr auto kNoDeadlineYet = std::chrono::steady_clock::time_point::max();
constexpr uint32_t kLatencySample = 16;  // handlers per one timed for the latency histogram

int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string failure_kind(engine::TrapKind kind) {
  switch (kind) {
    case engine::TrapKind::Timeout: return "timeout";
    case engine::TrapKind::MemoryLimit: return "memory";
    default: return "trap";
  }
}
}  // namespace

const char* to_string(ActorStatus s) {
  switch (s) {
    case ActorStatus::Starting: return "starting";
    case ActorStatus::Running: return "running";
    case ActorStatus::Failed: return "failed";
    case ActorStatus::Stopping: return "stopping";
    case ActorStatus::Stopped: return "stopped";
  }
  return "?";
}

Actor::Actor(Runtime& runtime, std::string id_, const Manifest& manifest_, std::string parent_,
             std::shared_ptr<engine::Module> module_, Bytes initial_state)
    : id(std::move(id_)),
      parent(std::move(parent_)),
      module(std::move(module_)),
      runtime_(runtime),
      manifest_(runtime.manifests().intern(manifest_)),
      committed_(std::move(initial_state)),
      mailbox_(manifest().limits.mailbox),
      system_(SIZE_MAX) {}

Actor::~Actor() = default;

void Actor::set_manifest(const Manifest& m) { manifest_.store(runtime_.manifests().intern(m), std::memory_order_release); }

// ---- calls into the instance ----------------------------------------------------------------
// Inline: once per message, where an out-of-line call and its returned Trap cost about 50
// instructions.

inline void Actor::publish_running(engine::Instance* instance) {
  if (auto* slot = Scheduler::interrupt_slot()) instance ? slot->publish(instance) : slot->unpublish();
}

[[gnu::always_inline]] inline std::optional<engine::Trap> Actor::call_instance(const engine::ExportFn& fn,
                                                                              std::span<const uint64_t> args,
                                                                              std::span<uint64_t> results) {
  engine::Instance* instance = instance_.get();
  if (wasm_depth_++ == 0) publish_running(instance);
  auto trap = instance->call(fn, args, results);
  if (--wasm_depth_ == 0) publish_running(nullptr);
  return trap;
}

// ---- delivery --------------------------------------------------------------------------------

int32_t Actor::deliver(Message&& message) { return deliver_made(message.bytes.size(), std::move(message)); }

int32_t Actor::deliver_send(std::string_view from, std::string_view bytes) {
  return deliver_made(bytes.size(), MessageKind::Send, from, bytes);
}

template <typename... MessageArgs>
int32_t Actor::deliver_made(size_t bytes, MessageArgs&&... message) {
  const auto s = status();
  if (s == ActorStatus::Stopping || s == ActorStatus::Stopped) return abi::kESTOPPED;
  if (bytes > manifest().limits.max_message_bytes) return abi::kETOOBIG;
  if (!mailbox_.emplace(false, std::forward<MessageArgs>(message)...)) {
    runtime_counters().messages_refused.add();
    return abi::kEFULL;
  }
  runtime_counters().messages_sent.add();
  runtime_.scheduler().schedule_self(*this);
  return abi::kOk;
}

void Actor::deliver_system(SystemMessage message) {
  const bool ends_wait = message.kind == SystemMessage::Stop || message.kind == SystemMessage::Terminate;
  if (ends_wait) {
    stop_pending_.store(true);
    // A handler still running when the deadline passes is killed (OTP: brutal kill after the
    // child's shutdown time), so a stop never waits on an actor that will not finish.
    set_kill_deadline(std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(manifest().limits.shutdown_timeout_ms));
  }
  system_.push(std::move(message), true);
  if (ends_wait && waiting_.load()) {
    // A waiting handler would hold the stop up until its timeout: cut the wait short.
    wait_cancelled_.store(true);
    mark_woken(wait_gen_.load());
  }
  runtime_.scheduler().schedule(shared_from_this());
}

Bytes Actor::committed_state() const {
  std::lock_guard lock(mutex_);
  return committed_;
}

std::vector<std::string> Actor::children() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> ids;
  ids.reserve(children_.size());
  for (const auto& c : children_) ids.push_back(c.actor->id);
  return ids;
}

void Actor::add_child(const std::shared_ptr<Actor>& child, std::optional<size_t> static_entry) {
  std::lock_guard lock(mutex_);
  if (!static_entry) {
    children_.push_back({child, kNoEntry});
    return;
  }
  // Static children keep their manifest order, ahead of those spawned through the ABI.
  auto pos = std::find_if(children_.begin(), children_.end(),
                          [&](const Child& c) { return c.static_entry == kNoEntry || c.static_entry > *static_entry; });
  children_.insert(pos, {child, *static_entry});
}

bool Actor::replace_child(const std::shared_ptr<Actor>& child) {
  std::lock_guard lock(mutex_);
  for (auto& c : children_) {
    if (c.actor->id == child->id) {
      c.actor = child;
      return true;
    }
  }
  return false;
}

const Actor::Child* Actor::child_locked(std::string_view id) const {
  for (const auto& c : children_) {
    if (c.actor->id == id) return &c;
  }
  return nullptr;
}

void Actor::remove_child(const std::string& child) {
  std::lock_guard lock(mutex_);
  // From the back: children stop in reverse start order, so the one leaving is usually last.
  auto it = std::find_if(children_.rbegin(), children_.rend(), [&](const Child& c) { return c.actor->id == child; });
  if (it != children_.rend()) children_.erase(std::next(it).base());
}

void Actor::set_kill_deadline(std::chrono::steady_clock::time_point at) { kill_at_ns_.store(steady_ns(at)); }

// ---- turns -----------------------------------------------------------------------------------

bool Actor::has_work() const {
  if (waiting_.load()) return woken_gen_.load() == wait_gen_.load();
  if (fiber_alive_.load()) return true;  // yielded mid-handler: continue it
  if (!system_.empty()) return true;
  return status() == ActorStatus::Running && !mailbox_.empty();
}

void Actor::run_turn() {
  // Always on a loop fiber: a worker's, or that of a thread hosting the turn (RunHere).
  if (waiting_.load()) {
    if (woken_gen_.load() != wait_gen_.load()) return;
    waiting_.store(false);
  }
  turn_started_ = {};  // unknown until a handler's first fuel check (no clock read per turn)
  if (fiber_) {
    // The turn goes on where it waited, and ends in the frame below that started it. This call
    // returns only when this thread's fiber, kept as a spare, is taken up for another turn's end.
    Fiber::continue_here(std::move(fiber_));
    return;
  }
  // Straight on this thread's fiber, with no switch: a handler that waits keeps the fiber
  // (suspend), and the thread goes on with another.
  fiber_alive_.store(true, std::memory_order_relaxed);  // (a turn is under way: wait_idle)
  turn_body();
  fiber_alive_.store(false, std::memory_order_release);
  if (auto* remote = runtime_.remote()) remote->turn_ended();
}

// Not inline: the turn may have moved to another thread since it began (a handler waited), and
// the counter's thread-local shard must be this thread's.
[[gnu::noinline]] static void count_handled(int n) { runtime_counters().messages_handled.add(n); }

void Actor::turn_body() {
  int handled = 0;  // counted once per turn, not per message
  for (int budget = kMessageBudget; budget > 0; --budget) {
    if (auto sys = system_.pop()) {
      system_.settle(1);
      settle_mailbox();  // (a system message may look at the mailbox: hibernate_if_idle)
      handle_system(*sys);
      continue;
    }
    if (status() != ActorStatus::Running) break;
    auto msg = mailbox_.pop();
    if (!msg) break;
    ++unsettled_pops_;
    handle_message(*msg);
    ++handled;
  }
  if (handled > 0) count_handled(handled);
  // Before the scheduler looks at has_work(), and before the turn ends: see Mailbox::settle.
  settle_mailbox();
  wake_drained_senders();
  if (hibernate_after().count() > 0) {
    last_active_ns_ = coarse_now_ns();
    arm_hibernation();
  }
}

// An idle actor gives its instance back: only the committed state stays, and the next message
// brings a fresh instance (theater_init reason 3, "resume").
void Actor::arm_hibernation() {
  const auto after = hibernate_after();
  if (after.count() <= 0 || !instance_ || hibernation_armed_.exchange(true)) return;
  runtime_.scheduler().after(after, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->hibernation_armed_.store(false);
    SystemMessage m{SystemMessage::Run};
    m.fn = [raw = self.get()] { raw->hibernate_if_idle(); };
    self->deliver_system(std::move(m));
  });
}

std::chrono::milliseconds Actor::hibernate_after() const {
  if (manifest().limits.hibernate_after_ms) return std::chrono::milliseconds(*manifest().limits.hibernate_after_ms);
  return runtime_.config().hibernate_after;
}

void Actor::hibernate_if_idle() {
  const auto after = hibernate_after();
  if (!instance_ || status() != ActorStatus::Running || !mailbox_.empty() || waiting_.load()) return;
  // Idle for `after` give or take the coarse clock's tick (the timer that called this fired
  // `after` past the turn's end by the exact clock); busy since: re-armed.
  if (coarse_now_ns() - last_active_ns_ + coarse_clock_tick_ns() < std::chrono::nanoseconds(after).count()) return;
  drop_instance();
  runtime_.record(*this, "hibernated", fmt::format("{} state bytes kept", committed_state().size()));
  scratch_.reset();  // outside any handler: nothing refers to it
  events_.compact();
}

bool Actor::await(const std::function<void(std::function<void()> wake)>& start) {
  const uint64_t gen = wait_gen_.fetch_add(1) + 1;
  wait_cancelled_.store(false);
  waiting_.store(true);
  // A Stop or Terminate already on its way cut short the wait in progress when it came, not
  // this one: no new wait starts. (waiting_ first, then the flag, both seq_cst, against
  // deliver_system's flag first, then waiting_: one of the two sees the other.)
  if (stop_pending_.load()) {
    waiting_.store(false);
    return false;
  }
  auto self = shared_from_this();
  // While waiting, the handler's own time does not run.
  const auto paused_at = std::chrono::steady_clock::now();
  start([self, gen] { self->wake(gen); });
  // A wait while a stop is under way (a theater_shutdown that makes a request) ends at the stop's
  // kill deadline, as a running handler does: it is killed there.
  Scheduler::TimerId kill_timer = 0;
  std::shared_ptr<std::atomic<bool>> killed_waiting;  // only under a kill deadline
  if (const int64_t kill_at = kill_at_ns_.load(); kill_at != std::numeric_limits<int64_t>::max()) {
    killed_waiting = std::make_shared<std::atomic<bool>>(false);
    const int64_t left_ns = std::max<int64_t>(0, kill_at - steady_ns(paused_at));
    kill_timer = runtime_.scheduler().after(std::chrono::milliseconds(left_ns / 1'000'000 + 1),
                                            [self, gen, killed_waiting] {
                                              // This wait's own flag, set before the wake: read
                                              // when it resumes, whoever resumes it.
                                              killed_waiting->store(true);
                                              self->wake(gen);
                                            });
  }
  suspend();
  if (kill_timer) runtime_.scheduler().cancel(kill_timer);
  if (deadline_ != kNoDeadlineYet) deadline_ += std::chrono::steady_clock::now() - paused_at;
  const bool cancelled = wait_cancelled_.exchange(false);
  if (killed_waiting && killed_waiting->load()) {
    killed_ = true;  // the failure that follows is a kill (fail)
    return false;
  }
  return !cancelled;
}

bool Actor::mark_woken(uint64_t gen) {
  for (uint64_t woken = woken_gen_.load(); woken < gen;) {
    if (woken_gen_.compare_exchange_weak(woken, gen)) return true;
  }
  return false;
}

void Actor::wake(uint64_t gen) {
  if (mark_woken(gen)) runtime_.scheduler().schedule(shared_from_this());
}

int32_t Actor::on_fuel_exhausted(engine::Instance& instance) {
  const auto now = std::chrono::steady_clock::now();
  if (handler_running_ && steady_ns(now) > kill_at_ns_.load(std::memory_order_relaxed)) {
    killed_ = true;
    instance.raise({engine::TrapKind::Timeout,
                    fmt::format("killed: still running {} ms (shutdown_timeout_ms) after it was asked to stop",
                                manifest().limits.shutdown_timeout_ms)});
    return 0;
  }
  if (handler_running_ && deadline_ == kNoDeadlineYet) {
    deadline_ = now + std::chrono::milliseconds(manifest().limits.handler_timeout_ms);
  } else if (handler_running_ && now > deadline_) {
    instance.raise({engine::TrapKind::Timeout,
                    fmt::format("handler ran past its deadline of {} ms",
                                manifest().limits.handler_timeout_ms)});
    return 0;
  }
  // The slice is timed from the turn's first fuel check, a fuel slice after the handler began.
  if (turn_started_ == std::chrono::steady_clock::time_point{}) turn_started_ = now;
  if (now - turn_started_ > kTimeSlice) {
    // Preempt: give the worker to others, continue later (maybe on another worker).
    yield_turn();
    turn_started_ = std::chrono::steady_clock::now();
  }
  return kFuelSlice;
}

void Actor::yield_turn() {
  if (!Fiber::on_loop()) return;
  // Queued again when the turn ends: has_work() is true while fiber_alive_ is set (finish_turn).
  suspend();
}

// The worker's watchdog may interrupt the instance only while this actor's turn runs it: the
// instance leaves its worker's slot while the fiber waits, and joins the slot of whichever worker
// resumes it.
void Actor::suspend() {
  settle_mailbox();  // (a wait may be long: what this turn took is not kept counted meanwhile)
  if (wasm_depth_ > 0) publish_running(nullptr);
  if (auto* remote = runtime_.remote()) remote->turn_ended();  // what it gathered for other nodes
  Fiber::park_current(fiber_);  // (fiber_alive_ stays set: has_work)
  if (wasm_depth_ > 0 && instance_) publish_running(instance_.get());
}

void Actor::after_send() {
  if (!send_target_) return;  // (a replayed send reached no target)
  SendTarget& target = *send_target_;
  if (target.sends_since_yield < kSendBurst) ++target.sends_since_yield;
  if (!target.actor || target.actor.get() == this || !handler_running_) return;
  // (A backlog of its own goes down only once this handler has ended.)
  const size_t backlog = target.actor->mailbox_depth();  // (its line is ours: we just pushed)
  if (backlog < kSendBacklog) return;
  if (backlog < kSendBacklog + kSendBurst && target.sends_since_yield < kSendBurst) return;
  target.sends_since_yield = 0;
  if (!target.actor->waiting_.load()) {
    wait_for_drain(target.actor);
    return;
  }
  // A receiver that waits may wait for this actor (two actors flooding each other): its mailbox
  // would not drain. Give the worker up for a turn instead.
  const auto paused_at = std::chrono::steady_clock::now();
  yield_turn();
  if (deadline_ != kNoDeadlineYet) deadline_ += std::chrono::steady_clock::now() - paused_at;
}

// The sender does not run while its receiver works through the backlog, so the two are never
// both runnable: they take turns on one core, where the messages stay in its cache, instead of
// each running on a core of its own and passing every message's lines between the two (on two
// cores that made counting slower than on one). The receiver wakes it on its own worker.
void Actor::wait_for_drain(std::shared_ptr<Actor> receiver) {
  auto& scheduler = runtime_.scheduler();
  Scheduler::TimerId timer = 0;
  runtime_counters().drain_waits.add();
  const bool woken = await([&](std::function<void()> wake) {
    runtime_.add_drain_waiter(*receiver, this, wake);
    // Drained before it saw us? (Its check of the flag and ours of its mailbox are seq_cst.)
    if (receiver->mailbox_depth() < kDrainedBelow) {
      wake();
      return;
    }
    timer = scheduler.after(kDrainWaitMax, std::move(wake));
  });
  if (timer) scheduler.cancel(timer);
  runtime_.remove_drain_waiter(*receiver, this);
  // Cut short by a stop of this actor: its handler ends here, as a request's wait does.
  if (!woken && instance_) {
    instance_->raise({engine::TrapKind::Host, "the actor was stopped while it waited for its receiver to drain"});
  }
}

void Actor::wake_drained_senders() {
  if (has_drain_waiters_.load() && mailbox_.size() < kDrainedBelow) {
    runtime_counters().drain_wakes.add(runtime_.wake_drain_waiters(*this));
  }
}

// ---- lifecycle -------------------------------------------------------------------------------

void Actor::handle_system(SystemMessage& msg) {
  if (is_proxy()) {
    handle_proxy_system(msg);
    if (msg.done) msg.done();
    return;
  }
  switch (msg.kind) {
    case SystemMessage::Init: {
      const auto s = status();
      if (s == ActorStatus::Stopped || s == ActorStatus::Stopping) break;
      if (msg.reason == abi::kRestart) restart_history.clear();  // a new supervisor, as in OTP
      if (ensure_instance(msg.reason)) {
        status_.store(ActorStatus::Running);
        runtime_.record(*this, msg.reason == abi::kRestart ? "restarted" : "started",
                        msg.reason == abi::kRestart
                            ? fmt::format("restart {}", restarts_.load())
                            : fmt::format("{} state bytes", committed_state().size()));
        last_failure_.reset();
        killed_stopping_ = false;
        start_children(msg.reason);
        // Down notices that came while this actor was down wait for its next instance.
        if (auto downs = std::move(deferred_downs_)) {
          for (auto& down : *downs) deliver_system(std::move(down));
        }
      }
      break;
    }
    case SystemMessage::ChildFailed:
      runtime_.on_child_failed(*this, msg.subject, msg.failure);
      break;
    case SystemMessage::ChildExited:
      runtime_.on_child_exited(*this, msg.subject, msg.bytes);
      break;
    case SystemMessage::Terminate:
      handle_terminate();
      break;
    case SystemMessage::Stop:
      handle_stop(msg);
      break;
    case SystemMessage::Down:
      if (status() == ActorStatus::Starting || status() == ActorStatus::Failed) {
        SystemMessage later{SystemMessage::Down};
        later.subject = std::move(msg.subject);
        later.bytes = std::move(msg.bytes);
        if (!deferred_downs_) deferred_downs_ = std::make_unique<std::vector<SystemMessage>>();
        deferred_downs_->push_back(std::move(later));
        break;
      }
      if (status() != ActorStatus::Running) break;
      if (ensure_instance(abi::kResume) && instance_->has_function("theater_handle_down")) {
        auto id_ptr = place_bytes(msg.subject);
        auto reason_ptr = id_ptr ? place_bytes(msg.bytes) : std::nullopt;
        if (reason_ptr) {
          const uint64_t args[] = {*id_ptr, msg.subject.size(), *reason_ptr, msg.bytes.size()};
          invoke("theater_handle_down", args, "down");
        }
      }
      break;
    case SystemMessage::Run:
      if (msg.fn) msg.fn();
      break;
  }
  if (msg.done) msg.done();
}

// A proxy's lifecycle is its home node's: it asks there and waits (in its own fiber), then
// mirrors the status. A failure of the real actor comes separately (Runtime::report_failed).
void Actor::handle_proxy_system(SystemMessage& msg) {
  using Control = RemoteNodes::Control;
  Control op;
  switch (msg.kind) {
    case SystemMessage::Init: op = Control::Init; break;
    case SystemMessage::Terminate: op = Control::Terminate; break;
    case SystemMessage::Stop: op = Control::Stop; break;
    case SystemMessage::Run:
      if (msg.fn) msg.fn();
      return;
    default: return;  // a proxy is no parent here, and watches nothing
  }
  stop_pending_.store(false);
  if (status() == ActorStatus::Stopped) return;
  if (op == Control::Stop) status_.store(ActorStatus::Stopping);
  auto rc = std::make_shared<int32_t>(abi::kEFAILED);
  if (auto* remote = runtime_.remote()) {
    await([&](std::function<void()> wake) {
      remote->control(home, id, op, msg.reason, [rc, wake](int32_t r) {
        *rc = r;
        wake();
      });
    });
  }
  switch (op) {
    case Control::Init: {
      auto starting = ActorStatus::Starting;
      if (*rc == abi::kOk) status_.compare_exchange_strong(starting, ActorStatus::Running);
      break;
    }
    case Control::Terminate:
      if (status() != ActorStatus::Stopped) status_.store(ActorStatus::Starting);
      break;
    default:
      status_.store(ActorStatus::Stopped);
      runtime_.notify_down(id, [] { return std::string(R"({"reason":"normal"})"); });
      runtime_.record(*this, "stopped", fmt::format("on node {}", home));
      break;
  }
}

void Actor::handle_terminate() {
  stop_pending_.store(false);
  const bool was_running = status() == ActorStatus::Running;
  terminating_ = true;
  call_shutdown();
  terminating_ = false;
  drop_instance();
  if (status() != ActorStatus::Stopped) status_.store(ActorStatus::Starting);
  set_kill_deadline(std::chrono::steady_clock::time_point::max());
  if (was_running) runtime_.record(*this, "terminated", "instance dropped by its supervisor; identity and state kept");
}

void Actor::handle_stop(SystemMessage& msg) {
  stop_pending_.store(false);
  if (status() == ActorStatus::Stopped) return;
  status_.store(ActorStatus::Stopping);
  stop_children();
  call_shutdown();
  finish_stop();
  set_kill_deadline(std::chrono::steady_clock::time_point::max());
  runtime_.record(*this, "stopped", msg.bytes.empty() ? "stopped" : msg.bytes);
}

void Actor::call_shutdown() {
  if (!instance_ || !instance_->has_function("theater_shutdown")) return;
  // Its own budget, counted from now (stopping the children may have taken a while).
  set_kill_deadline(std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(manifest().limits.shutdown_timeout_ms));
  invoke("theater_shutdown", {}, "shutdown");
}

void Actor::terminate_children() {
  auto kids = children();
  for (auto it = kids.rbegin(); it != kids.rend(); ++it) runtime_.terminate_from(*this, *it);
}

void Actor::start_children(uint32_t reason) {
  std::vector<std::string> started;
  // OTP: a child that cannot start fails its supervisor's start; the children started before it
  // are terminated first (reverse start order).
  auto give_up = [&](const std::string& what) {
    for (auto it = started.rbegin(); it != started.rend(); ++it) runtime_.terminate_from(*this, *it);
    fail({"error", what});
  };
  auto check = [&](const std::string& kid, const std::string& label) {
    auto child = runtime_.find(kid);
    if (child && child->status() == ActorStatus::Failed) {
      give_up(fmt::format("child {} failed to start", label));
      return false;
    }
    if (child && child->status() == ActorStatus::Running) started.push_back(kid);
    return status() == ActorStatus::Running;
  };
  auto entry_of = [&](size_t entry) -> std::string {
    std::lock_guard lock(mutex_);
    for (const auto& c : children_) {
      if (c.static_entry == entry) return c.actor->id;
    }
    return "";
  };
  // An upgraded supervisor keeps the children it has; a recovered one gets its stored children
  // back (below), never a second set from its manifest.
  const bool keeps_children = reason == abi::kUpgrade || reason == abi::kResume;
  for (size_t entry = 0; !keeps_children && entry < manifest().children.size(); ++entry) {
    if (status() != ActorStatus::Running) return;
    const auto& spec = manifest().children[entry];
    std::string kid = entry_of(entry);
    if (!kid.empty()) {
      restart_child(kid);
    } else {
      try {
        auto child = load_manifest(spec.manifest);
        std::optional<Bytes> init;
        if (spec.init_state) init = read_file_text(*spec.init_state);
        kid = runtime_.spawn_from(*this, child, init, entry);
      } catch (const std::exception& e) {
        give_up(fmt::format("cannot start child {}: {}", spec.manifest.string(), e.what()));
        return;
      }
    }
    if (!check(kid, spec.manifest.stem().string())) return;
  }
  if (reason == abi::kFirstStart) return;
  // Children spawned through the ABI come back too (OTP would drop them: see docs/supervision.md);
  // a recovered tree's children resume (theater_init reason 3).
  const uint32_t child_reason = reason == abi::kResume ? abi::kResume : abi::kRestart;
  for (const auto& kid : children()) {
    if (!keeps_children) {
      std::lock_guard lock(mutex_);
      const Child* c = child_locked(kid);
      if (c && c->static_entry != kNoEntry) continue;
    }
    restart_child(kid, child_reason);
    auto child = runtime_.find(kid);
    if (!check(kid, child ? child->manifest().name : kid)) return;
  }
}

void Actor::restart_child(const std::string& kid, uint32_t reason) {
  auto child = runtime_.find(kid);
  if (!child) return;
  const auto s = child->status();
  if (s != ActorStatus::Starting && s != ActorStatus::Failed) return;  // running (upgrade) or gone
  SystemMessage m{SystemMessage::Init};
  m.reason = reason;
  runtime_.system_and_wait(this, *child, std::move(m));
}

void Actor::stop_children() {
  auto kids = children();
  for (auto it = kids.rbegin(); it != kids.rend(); ++it) runtime_.stop_from(*this, *it);
}

void Actor::finish_stop() {
  drop_instance();
  status_.store(ActorStatus::Stopped);
  for (auto& m : mailbox_.drain()) {
    if (m.reply) m.reply->complete(abi::kESTOPPED, {});
  }
  runtime_.wake_drain_waiters(*this);  // (their next send gets ESTOPPED)
  runtime_.close_channels_of(id);
  // Why it is gone: a normal stop or exit, a stop for good after a failure (temporary child,
  // stop decision, escalation), or killed at the shutdown deadline.
  runtime_.notify_down(id, [this] {
    nlohmann::json reason{{"reason", "normal"}};
    if (killed_stopping_) {
      reason = {{"reason", "killed"}};
    } else if (last_failure_) {  // (kept only while this actor is down)
      reason = {{"reason", "failure"}, {"kind", last_failure_->kind}, {"message", last_failure_->message}};
    }
    return reason.dump();
  });
  runtime_.drop_monitors_of(id);
}

bool Actor::make_instance(uint32_t reason) {
  if (!module) return true;  // the runtime's root has no wasm
  try {
    engine::InstanceLimits limits;
    limits.max_memory_pages = manifest().limits.memory_mb * 16;
    instance_ = module->instantiate(limits, this);
  } catch (const std::exception& e) {
    fail({"trap", fmt::format("cannot instantiate: {}", e.what())});
    return false;
  }
  if (io_) io_->init(reason, committed_state(), module->info().sha256);
  // A reactor module's constructors (wasi-libc) run before anything else.
  if (instance_->has_function("_initialize")) {
    if (!invoke("_initialize", {}, "_initialize")) return false;
  }
  if (reason == abi::kResume) runtime_.record(*this, "resumed", "fresh instance, committed state");
  if (instance_->has_function("theater_init")) {
    const Bytes state = committed_state();
    auto ptr = place_bytes(state);
    if (!ptr) return false;
    const uint64_t args[] = {*ptr, state.size(), reason};
    if (!invoke("theater_init", args, "init")) return false;
  }
  return true;
}

void Actor::drop_instance() {
  instance_.reset();
  exports_.reset();
  if (scratch_) *scratch_ = {};
  send_target_.reset();  // (it holds its target: a stopped pair that sent each other must not)
}

void Actor::fail(Failure failure) {
  drop_instance();
  if (trial_failure_) {  // an upgrade's trial init: the caller rolls back; no one else is told
    *trial_failure_ = std::move(failure);
    return;
  }
  const bool killed = std::exchange(killed_, false);
  killed_stopping_ = killed_stopping_ || killed;
  runtime_.record(*this, killed ? "killed" : "failed", fmt::format("{}: {}", failure.kind, failure.message));
  // A failure while stopping (say theater_shutdown trapped, or a wait cut short by the stop)
  // only ends the stop sooner: it is not reported to the parent.
  if (status() == ActorStatus::Stopping || status() == ActorStatus::Stopped || stop_pending_.load() ||
      terminating_) {
    return;
  }
  status_.store(ActorStatus::Failed);
  last_failure_ = std::make_unique<Failure>(failure);
  // Its children lose their parent for a moment: their instances go too (reverse start order),
  // identities and committed states stay, and they start again when the parent does.
  terminate_children();
  if (!module) return;
  // Held, not a raw pointer into a temporary: the parent may be unregistered meanwhile.
  const auto parent_ref = parent.empty() ? nullptr : runtime_.find(parent);
  Actor* parent_actor = parent.empty() ? &runtime_.root() : parent_ref.get();
  if (!parent_actor) {  // its parent lives on another node (or is gone)
    if (auto* remote = runtime_.remote()) remote->child_failed(parent, id, failure.kind, failure.message);
    return;
  }
  SystemMessage m{SystemMessage::ChildFailed};
  m.subject = id;
  m.failure = std::move(failure);
  parent_actor->deliver_system(std::move(m));
}

void Actor::exit_normally(Bytes result) {
  exited_ = true;
  status_.store(ActorStatus::Stopping);
  stop_children();
  finish_stop();
  runtime_.record(*this, "exited", result);
  // Held, not a raw pointer into a temporary: the parent may be unregistered meanwhile.
  const auto parent_ref = parent.empty() ? nullptr : runtime_.find(parent);
  Actor* parent_actor = parent.empty() ? &runtime_.root() : parent_ref.get();
  if (!parent_actor) {  // its parent lives on another node (or is gone)
    if (auto* remote = runtime_.remote()) remote->child_exited(parent, id, result);
    return;
  }
  SystemMessage m{SystemMessage::ChildExited};
  m.subject = id;
  m.bytes = std::move(result);
  parent_actor->deliver_system(std::move(m));
}

// ---- the parent's side of supervision ------------------------------------------------------

std::optional<supervision::Decision> Actor::call_child_error(const std::string& child,
                                                             const std::string& err_json) {
  if (!ensure_instance(abi::kResume)) return std::nullopt;
  if (!instance_->has_function("theater_handle_child_error")) {
    runtime_.record(*this, "undeliverable", "strategy custom but no theater_handle_child_error: escalating");
    return supervision::Decision::Escalate;
  }
  auto id_ptr = place_bytes(child);
  if (!id_ptr) return std::nullopt;
  auto err_ptr = place_bytes(err_json);
  if (!err_ptr) return std::nullopt;
  const uint64_t args[] = {*id_ptr, child.size(), *err_ptr, err_json.size()};
  auto answer = invoke("theater_handle_child_error", args, "child error");
  if (!answer) return std::nullopt;
  switch (*answer) {
    case 0: return supervision::Decision::Restart;
    case 1: return supervision::Decision::Stop;
    case 2: return supervision::Decision::Escalate;
    default:
      fail({"error", fmt::format("theater_handle_child_error returned {}, not 0, 1 or 2", *answer)});
      return std::nullopt;
  }
}

void Actor::call_child_exit(const std::string& child, const Bytes& result) {
  if (!ensure_instance(abi::kResume) || !instance_->has_function("theater_handle_child_exit")) return;
  auto id_ptr = place_bytes(child);
  if (!id_ptr) return;
  auto res_ptr = place_bytes(result);
  if (!res_ptr) return;
  const uint64_t args[] = {*id_ptr, child.size(), *res_ptr, result.size()};
  invoke("theater_handle_child_exit", args, "child exit");
}

// ---- handlers --------------------------------------------------------------------------------

std::string HandlerWhat::str() const {
  if (!message) return std::string(text);
  return fmt::format("{} from {}", to_string(message->kind), message->from);
}

std::optional<uint32_t> Actor::place_bytes(std::string_view bytes) {
  auto ptr = request_buffer(exports().alloc, bytes.size());
  if (ptr && !bytes.empty()) std::memcpy(instance_->memory().data() + *ptr, bytes.data(), bytes.size());
  return ptr;
}

std::optional<uint32_t> Actor::request_buffer(const engine::ExportFn& fn, uint64_t size) {
  const uint64_t args[] = {size};
  uint64_t result[1] = {0};
  if (auto trap = call_instance(fn, args, result)) {
    fail({failure_kind(trap->kind), fmt::format("{}: {}", fn.name, trap->message)});
    return std::nullopt;
  }
  const auto ptr = static_cast<uint32_t>(result[0]);
  if (ptr == 0 && size != 0) {
    fail({"memory", fmt::format("{} returned 0 (out of memory)", fn.name)});
    return std::nullopt;
  }
  if (size > UINT32_MAX || !instance_->in_bounds(ptr, static_cast<uint32_t>(size))) {
    fail({"trap", fmt::format("{} returned a buffer outside memory", fn.name)});
    return std::nullopt;
  }
  return ptr;
}

Actor::InstanceExports& Actor::find_exports() {
  static constexpr const char* kHandlerExports[kMessageKinds] = {
      "theater_handle_send",          "theater_handle_request",         "theater_handle_timer",
      "theater_handle_channel_open", "theater_handle_channel_message", "theater_handle_channel_close"};
  exports_ = std::make_unique<InstanceExports>();
  exports_->owner = instance_.get();
  exports_->alloc = instance_->find_function("theater_alloc");
  exports_->inbox = instance_->find_function("theater_inbox");
  for (size_t k = 0; k < kMessageKinds; ++k) exports_->handlers[k] = instance_->find_function(kHandlerExports[k]);
  return *exports_;
}

bool Actor::place_args(std::initializer_list<std::string_view> parts, uint64_t* args, size_t& nargs) {
  // Each part starts 8-byte aligned and is followed by a NUL, as theater_alloc's buffers are in
  // the C SDK. Past kInboxMax the inbox is not grown (it stays for the instance's life).
  constexpr uint64_t kInboxMax = 64 * 1024;
  auto& ex = exports();
  uint64_t need = 0;
  for (auto p : parts) need += (p.size() + 1 + 7) & ~uint64_t{7};
  if (!ex.inbox || need > kInboxMax) {
    for (auto p : parts) {
      auto ptr = place_bytes(p);
      if (!ptr) return false;
      args[nargs++] = *ptr;
      args[nargs++] = p.size();
    }
    return true;
  }
  if (need > ex.inbox_size) {
    uint64_t size = 256;
    while (size < need) size *= 2;
    ex.inbox_size = 0;  // (the old one is given up even if this fails)
    auto ptr = request_buffer(ex.inbox, size);
    if (!ptr) return false;
    ex.inbox_ptr = *ptr;
    ex.inbox_size = static_cast<uint32_t>(size);
  }
  // In bounds: checked when the inbox was made, and memory never shrinks.
  uint8_t* base = instance_->memory().data();
  uint32_t at = ex.inbox_ptr;
  for (auto p : parts) {
    std::memcpy(base + at, p.data(), p.size());
    base[at + p.size()] = 0;
    args[nargs++] = at;
    args[nargs++] = p.size();
    at += static_cast<uint32_t>((p.size() + 1 + 7) & ~size_t{7});
  }
  return true;
}

bool Actor::place_in_inbox(std::string_view bytes, uint64_t* args) {
  const auto& ex = exports();
  if (bytes.size() >= ex.inbox_size) return false;  // (0 without an inbox; room for the NUL)
  uint8_t* at = instance_->memory().data() + ex.inbox_ptr;
  std::memcpy(at, bytes.data(), bytes.size());
  at[bytes.size()] = 0;
  args[0] = ex.inbox_ptr;
  args[1] = bytes.size();
  return true;
}

std::optional<int32_t> Actor::invoke(std::string_view export_name, std::span<const uint64_t> args,
                                     HandlerWhat what, std::shared_ptr<ReplySlot> reply) {
  return invoke(instance_->find_function(export_name), args, what, std::move(reply));
}

std::optional<int32_t> Actor::invoke(const engine::ExportFn& fn, std::span<const uint64_t> args,
                                     HandlerWhat what, std::shared_ptr<ReplySlot> reply) {
  const std::string_view export_name = fn.name;
  if (scratch_) {
    scratch_->clear();
  } else {
    scratch_ = std::make_unique<HandlerScratch>();  // freed when the actor hibernates
  }
  scratch_->reply = std::move(reply);
  exited_ = false;
  // The handler's clock starts at its first fuel check (on_fuel_exhausted), a fuel slice after it
  // began: most handlers end before that and cost no clock read.
  deadline_ = kNoDeadlineYet;
  handler_running_ = true;
  if (io_) io_->invoking(export_name, args, *instance_);
  instance_->set_fuel(kFuelSlice);
  uint64_t result[1] = {0};  // every ABI export returns at most one i32 (0 when it returns none)
  auto trap = call_instance(fn, args, result);
  handler_running_ = false;
  if (trap && trap->kind == engine::TrapKind::Exit) {
    exit_normally(std::move(trap->message));
    return std::nullopt;
  }
  if (trap) {
    fail({failure_kind(trap->kind), fmt::format("{} in {}", trap->message, what.str())});
    return std::nullopt;
  }
  const auto status = static_cast<int32_t>(result[0]);
  // theater_handle_channel_open and theater_handle_child_error return an answer, not a status.
  auto returns_answer = [&] {
    return export_name == "theater_handle_channel_open" || export_name == "theater_handle_child_error" ||
           export_name == "theater_alloc" || export_name == "_initialize";
  };
  if (status != 0 && !returns_answer()) {
    // A handler that called fail() and then returned non-zero keeps its own message.
    fail({"error", scratch_->fail_message
                       ? fmt::format("{} ({} returned status {})", *scratch_->fail_message, what.str(), status)
                       : fmt::format("{} returned status {}", what.str(), status)});
    return std::nullopt;
  }
  if (scratch_->fail_message) {
    fail({"error", *scratch_->fail_message});
    return std::nullopt;
  }
  bool owned = true;
  if (scratch_->staged_state) {
    Bytes state = std::move(*scratch_->staged_state);
    // Journaled, then replicated to the cluster. The journal records what this instance did, owned
    // or not, so that the chain stays consistent with committed_ (verify, replay); the cluster
    // keeps the state with the chain head of this commit (the token finds it) as the copy another
    // node resumes from, and decides whether this node still owns the actor (a node that lost it
    // to another one releases no reply from it). No reply is released before both are done (each
    // waits in its sync mode).
    const uint64_t chain_token = io_ ? io_->committed(state) : 0;  // sync durability: on disk now
    if (auto* remote = runtime_.remote()) owned = remote->committed(*this, state, chain_token);
    std::lock_guard lock(mutex_);
    committed_ = std::move(state);
  }
  if (io_ && scratch_->replied) io_->replied(scratch_->reply_bytes);
  if (!owned && scratch_->reply) {
    scratch_->reply->complete(abi::kESTOPPED, {});
  } else if (scratch_->reply && scratch_->replied && !scratch_->reply->complete(abi::kOk, std::move(scratch_->reply_bytes))) {
    // The requester gave up (timeout) before the handler finished: recorded, then dropped.
    runtime_.record(*this, "reply-dropped", "the requester stopped waiting");
  }
  if (scratch_->exit_result) {
    exit_normally(std::move(*scratch_->exit_result));
    return std::nullopt;
  }
  return status;
}

void Actor::handle_message(Message& msg) {
  if (!ensure_instance(abi::kResume)) {
    if (msg.reply) msg.reply->complete(abi::kEFAILED, {});
    return;
  }
  const engine::ExportFn handler = exports().handlers[static_cast<size_t>(msg.kind)];
  if (!handler) {
    // Not a failure of the receiver (actor-abi.md): the sender learns, or it is recorded.
    if (msg.reply) msg.reply->complete(abi::kENOTFOUND, {});
    runtime_.record(*this, "undeliverable",
                    fmt::format("{} from {}: no export {}", to_string(msg.kind), msg.from, handler.name));
    return;
  }
  if (io_) io_->received(msg);
  uint64_t args[4];
  size_t nargs = 0;
  bool placed = true;
  if (msg.kind == MessageKind::Timer) {
    args[nargs++] = static_cast<uint64_t>(msg.tag);
  } else if (msg.kind == MessageKind::ChannelClose) {
    placed = place_args({msg.channel}, args, nargs);
  } else if (!msg.channel.empty()) {
    placed = place_args({msg.channel, msg.bytes}, args, nargs);
  } else if (place_in_inbox(msg.bytes, args)) {
    nargs = 2;
  } else {
    placed = place_args({msg.bytes}, args, nargs);
  }
  if (!placed) {
    if (msg.reply) msg.reply->complete(abi::kEFAILED, {});
    return;
  }
  auto reply = msg.reply;
  // One handler in kLatencySample is timed for the latency histogram: two clock reads cost as
  // much as a short handler's runtime overhead (60-70 ns each on this project's VM).
  const bool timed = handlers_seen_++ % kLatencySample == 0;  // (an actor's first one too)
  const auto handler_start = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  auto result = invoke(handler, std::span<const uint64_t>(args, nargs), HandlerWhat(msg),
                       msg.kind == MessageKind::Request ? reply : nullptr);
  if (timed) runtime_counters().handler_latency.observe(std::chrono::steady_clock::now() - handler_start);
  if (!reply) return;
  if (msg.kind == MessageKind::ChannelOpen) {
    reply->complete(result ? (*result == 1 ? 1 : 0) : abi::kEFAILED, {});
  } else if (!reply->done()) {
    // Failed, exited, or returned without replying: the requester is told, never left hanging.
    const int32_t rc = result ? abi::kEINVAL : exited_ ? abi::kESTOPPED : abi::kEFAILED;
    reply->complete(rc, {});
  }
}

}  // namespace theater
