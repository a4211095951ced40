#include "scheduler/scheduler.hpp"

#include "scheduler/fiber.hpp"

#include <random>
#include <unordered_map>
#include <utility>

namespace theater {

namespace {

// Which scheduler and worker the current thread is (null outside worker threads).
struct CurrentWorker {
  const Scheduler* scheduler = nullptr;
  void* worker = nullptr;
};
thread_local CurrentWorker t_current;
thread_local bool t_in_turn = false;
thread_local engine::InterruptSlot* t_interrupt_slot = nullptr;  // this thread's worker's
// Turns run on the worker's loop fibers, and a fiber that waited in a turn goes on with its loop
// on whichever worker continued it: code that spans a turn reads these only through functions
// the compiler cannot inline (it may keep a thread-local address across the call otherwise).
[[gnu::noinline]] void* current_worker() { return t_current.worker; }
[[gnu::noinline]] void set_in_turn(bool in) { t_in_turn = in; }
// What a thief saw of a worker that holds a `next` task: that worker's turn count, and when.
struct NextWatch {
  const void* victim = nullptr;
  uint64_t turn = 0;
  int64_t seen_at_ns = 0;
};
thread_local NextWatch t_next_watch;
// A RunHere on this thread: its scheduler, and the task it keeps to run here.
struct RunHereSlot {
  const Scheduler* scheduler = nullptr;
  std::shared_ptr<Task> task;
};
thread_local RunHereSlot t_run_here;

// A worker takes its `next` task at most this many times in a row before looking at its queue,
// so that two actors messaging each other cannot starve the rest.
constexpr unsigned kNextStreakLimit = 16;
// Every this many turns a worker looks at the injection queue first (fairness to outside work).
constexpr uint64_t kInjectedCheckInterval = 61;
// A thief takes a worker's `next` task only once that worker has been in its current turn this
// long: until then the owner is about to run it on a warm cache.
constexpr int64_t kNextStealAfterNs = 50'000;
// Rounds of looking for work (with a yield between) before a worker parks.
constexpr int kSpinRounds = 16;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Scheduler::Scheduler(unsigned workers) {
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    workers_.back()->index = i;
  }
  // Started only once every Worker exists: a worker steals from the others from its first turn.
  for (unsigned i = 0; i < workers; ++i) workers_[i]->thread = std::thread([this, i] { run_loop_as(*workers_[i]); });
  timer_thread_ = std::thread([this] { timer_loop(); });
  watchdog_thread_ = std::thread([this] { watchdog_loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::schedule(const std::shared_ptr<Task>& task) {
  if (task->queued_.exchange(true)) return;  // already queued or running: it will look again
  enqueue(task);
}

void Scheduler::enqueue(TaskPtr task) {
  if (stopping_.load(std::memory_order_relaxed)) return;
  if (t_run_here.scheduler == this && !t_run_here.task) {
    t_run_here.task = std::move(task);  // RunHere runs it on this thread
    return;
  }
  if (t_current.scheduler == this) {
    // An actor woke another: run it next on this warm core.
    auto& self = *static_cast<Worker*>(t_current.worker);
    TaskPtr displaced;
    {
      std::lock_guard lock(self.mutex);
      displaced = std::exchange(self.next, std::move(task));
      if (displaced) self.queue.push_back(std::move(displaced));
      else return;
    }
    wake_one();  // the displaced task is up for stealing
    return;
  }
  {
    std::lock_guard lock(inject_mutex_);
    injected_.push_back(std::move(task));
    injected_size_.fetch_add(1, std::memory_order_release);
  }
  wake_one();
}

void Scheduler::wake_one() {
  // An RMW rather than a load: it reads the latest count and orders our push before a parker's
  // re-check (see park in worker_loop), so a worker never parks on work it could have seen.
  if (parked_.fetch_add(0, std::memory_order_acq_rel) == 0) return;
  { std::lock_guard lock(park_mutex_); }
  park_cv_.notify_one();
}

void Scheduler::push_local(Worker& self, TaskPtr task) {
  {
    std::lock_guard lock(self.mutex);
    self.queue.push_back(std::move(task));
  }
  wake_one();
}

// A turn reads no clock (a clock read costs as much as a short handler's runtime overhead here):
// thieves time a worker's turn with their own clock and its turn count (steal), and a handler's
// time slice starts at its first fuel check (Actor::on_fuel_exhausted).
[[gnu::noinline]] void Scheduler::run(Worker& self, TaskPtr task) {
  self.count_turn_edge();  // odd while in a turn
  set_in_turn(true);
  Task& turn = *task;
  self.running = std::move(task);
  turn.run_turn();
  // If the turn waited, this fiber has come back on the worker that continued it (maybe another
  // one), or it is a spare taken up after another turn waited: either way, the turn this worker
  // is in ends here.
  Worker& now = *static_cast<Worker*>(current_worker());
  if (now.running) finish_turn(now);
}

void Scheduler::finish_turn(Worker& self) {
  TaskPtr task = std::move(self.running);
  set_in_turn(false);
  self.count_turn_edge();
  task->queued_.store(false);
  // Work that arrived during the turn found `queued_` set and did not queue the task: look now.
  // A task with work left (its budget ran out, or it was preempted) goes to the back of the queue,
  // behind the others, not into `next`; and the worker looks at the injection queue first next
  // time, so outside work is not stuck behind a few busy actors taking turns on one worker.
  self.busy_task_requeued = false;
  if (task->has_work() && !task->queued_.exchange(true)) {
    self.busy_task_requeued = true;
    push_local(self, std::move(task));
  }
}

Scheduler::RunHere::RunHere(Scheduler& scheduler)
    : scheduler_(scheduler), active_(t_current.scheduler == nullptr && t_run_here.scheduler == nullptr) {
  if (active_) t_run_here.scheduler = &scheduler;
}

void Scheduler::RunHere::run() {
  if (!active_) return;
  active_ = false;
  t_run_here.scheduler = nullptr;
  if (auto task = std::move(t_run_here.task)) scheduler_.run_hosted(std::move(task));
}

void Scheduler::run_hosted(TaskPtr task) {
  // This thread acts as a worker for one turn, on a loop fiber of its own as a worker would (a
  // turn that waited on a worker's fiber continues here; one that waits here is continued by a
  // worker): worker_loop, seeing a guest, runs `hosted` and returns. Its own `next` and queue are
  // seen by nobody else, so what the turn schedules (and the task, if it has work left) is handed
  // to the workers right after it. Its turn count and its interrupt slot are watched as a
  // worker's are (watchdog_loop).
  Worker& guest = [this]() -> Worker& {
    std::lock_guard lock(guests_mutex_);
    auto& entry = guests_[std::this_thread::get_id()];
    if (!entry) {
      entry = std::make_unique<Worker>();
      entry->guest = true;
    }
    return *entry;
  }();
  hosted_turns_.fetch_add(1, std::memory_order_relaxed);
  guest.hosted = std::move(task);
  hosting_.fetch_add(1);  // seq_cst: see watchdog_asleep_
  wake_watchdog();
  run_loop_as(guest);
  hosting_.fetch_sub(1);
  std::vector<TaskPtr> handoff;
  {
    std::lock_guard lock(guest.mutex);
    if (guest.next) handoff.push_back(std::move(guest.next));
    for (auto& t : guest.queue) handoff.push_back(std::move(t));
    guest.queue.clear();
  }
  for (auto& t : handoff) enqueue(std::move(t));  // not a worker here: to the injection queue
}

Scheduler::TaskPtr Scheduler::pop_injected() {
  if (injected_size_.load(std::memory_order_acquire) == 0) return nullptr;
  std::lock_guard lock(inject_mutex_);
  if (injected_.empty()) return nullptr;
  TaskPtr t = std::move(injected_.front());
  injected_.pop_front();
  injected_size_.fetch_sub(1, std::memory_order_release);
  return t;
}

Scheduler::TaskPtr Scheduler::steal(Worker& self) {
  const auto n = static_cast<unsigned>(workers_.size());
  if (n < 2) return nullptr;
  thread_local std::minstd_rand rng{std::random_device{}()};
  const unsigned start = static_cast<unsigned>(rng()) % n;
  for (unsigned k = 0; k < n; ++k) {
    const unsigned v = (start + k) % n;
    if (v == self.index) continue;
    Worker& victim = *workers_[v];
    std::vector<TaskPtr> taken;
    {
      std::lock_guard lock(victim.mutex);
      if (!victim.queue.empty()) {
        // Half of the victim's queue, oldest first.
        const size_t count = (victim.queue.size() + 1) / 2;
        for (size_t i = 0; i < count; ++i) {
          taken.push_back(std::move(victim.queue.front()));
          victim.queue.pop_front();
        }
      } else if (victim.next) {
        // Taken once the victim has been in one turn for kNextStealAfterNs by this thread's
        // clock (the same turn count twice that far apart), and not before.
        const uint64_t turn = victim.turn_seq.load(std::memory_order_relaxed);
        auto& watch = t_next_watch;
        if (turn % 2 == 1) {
          const int64_t now = now_ns();
          if (watch.victim != &victim || watch.turn != turn) {
            watch = {&victim, turn, now};
          } else if (now - watch.seen_at_ns > kNextStealAfterNs) {
            taken.push_back(std::move(victim.next));
            watch = {};
          }
        }
      }
    }
    if (taken.empty()) continue;
    self.steals.fetch_add(1, std::memory_order_relaxed);
    if (taken.size() > 1) {
      std::lock_guard lock(self.mutex);
      for (size_t i = 1; i < taken.size(); ++i) self.queue.push_back(std::move(taken[i]));
    }
    return std::move(taken.front());
  }
  return nullptr;
}

[[gnu::noinline]] Scheduler::TaskPtr Scheduler::find_work(Worker& self, uint64_t tick) {
  if (tick % kInjectedCheckInterval == 0 || self.busy_task_requeued) {
    if (auto t = pop_injected()) return t;
  }
  {
    std::lock_guard lock(self.mutex);
    if (self.next && self.next_streak < kNextStreakLimit) {
      ++self.next_streak;
      return std::move(self.next);
    }
    if (self.next) self.queue.push_back(std::move(self.next));
    self.next_streak = 0;
    if (!self.queue.empty()) {
      TaskPtr t = std::move(self.queue.front());
      self.queue.pop_front();
      return t;
    }
  }
  if (auto t = pop_injected()) return t;
  return steal(self);
}

bool Scheduler::any_queued() {
  if (injected_size_.load(std::memory_order_acquire) > 0) return true;
  for (auto& w : workers_) {
    std::lock_guard lock(w->mutex);
    if (!w->queue.empty() || w->next) return true;
  }
  return false;
}

void Scheduler::run_loop_as(Worker& self) {
  t_current = {this, &self};
  t_interrupt_slot = self.interrupt_slot;
  Fiber::run_loop([](void* scheduler) { static_cast<Scheduler*>(scheduler)->worker_loop(); }, this);
  t_current = {};
  t_interrupt_slot = nullptr;
}

void Scheduler::worker_loop() {
  uint64_t tick = 0;
  for (;;) {
    // Afresh each time round: after a turn this fiber may be on another worker (see run).
    Worker& self = *static_cast<Worker*>(current_worker());
    if (self.running) finish_turn(self);  // a fiber started (or a spare taken up) as a turn waited
    if (self.guest) {
      // A thread hosting a turn (run_hosted): that one turn, then back to run_hosted.
      if (!self.hosted) return;
      run(self, std::move(self.hosted));
      continue;
    }
    if (stopping_.load(std::memory_order_acquire)) return;
    TaskPtr task;
    for (int round = 0; round < kSpinRounds && !task; ++round) {
      task = find_work(self, ++tick);
      if (!task && round + 1 < kSpinRounds) std::this_thread::yield();
    }
    if (task) {
      run(self, std::move(task));
      continue;
    }
    // Park. Counting ourselves parked before the re-check pairs with wake_one: either a pusher
    // sees us parked and notifies (after we wait, since we hold park_mutex_), or we see its work.
    std::unique_lock lock(park_mutex_);
    parked_.fetch_add(1, std::memory_order_acq_rel);
    if (!stopping_.load() && !any_queued()) {
      self.parks.fetch_add(1, std::memory_order_relaxed);
      park_cv_.wait(lock);
    }
    parked_.fetch_sub(1);  // seq_cst: see watchdog_asleep_
    lock.unlock();
    wake_watchdog();
  }
}

bool Scheduler::idle() const { return parked_.load() == workers_.size() && hosting_.load() == 0; }

void Scheduler::wake_watchdog() {
  if (!watchdog_asleep_.load()) return;
  {
    std::lock_guard lock(watchdog_mutex_);
    watchdog_asleep_.store(false);
  }
  watchdog_cv_.notify_one();
}

bool Scheduler::in_turn() { return t_in_turn; }

// Not inline: a fiber may move to another thread between two calls, and a thread-local address
// computed before must not be reused after.
[[gnu::noinline]] engine::InterruptSlot* Scheduler::interrupt_slot() { return t_interrupt_slot; }

// Every tick, a worker found in the same turn as at the last tick (an odd turn count, unchanged)
// has been in it for at least a tick: its instance is interrupted. The fuel handler it then
// calls reads the clock, so the tick only bounds how late a time slice or a deadline is seen
// by code that spends no fuel (a function that calls, and calls, and never loops in a leaf).
void Scheduler::watchdog_loop() {
  std::unordered_map<const Worker*, uint64_t> seen;  // each one's turn count at the last tick
  auto watch = [&seen](Worker& w) {
    const uint64_t turn = w.turn_seq.load(std::memory_order_relaxed);
    auto& last = seen[&w];
    if (turn % 2 == 1 && turn == last) w.interrupt_slot->interrupt();
    last = turn;
  };
  unsigned idle_ticks = 0;
  std::unique_lock lock(watchdog_mutex_);
  while (!watchdog_cv_.wait_for(lock, kWatchdogTick, [this] { return watchdog_stopping_; })) {
    watchdog_ticks_.fetch_add(1, std::memory_order_relaxed);
    for (auto& w : workers_) watch(*w);
    {
      std::lock_guard guests(guests_mutex_);
      for (auto& [thread, w] : guests_) watch(*w);
    }
    if (!idle()) {
      idle_ticks = 0;
      continue;
    }
    if (++idle_ticks < kWatchdogIdleTicks) continue;
    // Asleep first, then idle once more: a worker that woke in between sees the flag and wakes us.
    watchdog_asleep_.store(true);
    if (idle()) watchdog_cv_.wait(lock, [this] { return watchdog_stopping_ || !watchdog_asleep_.load(); });
    watchdog_asleep_.store(false);
    idle_ticks = 0;
  }
}

Scheduler::Stats Scheduler::stats() const {
  Stats s;
  for (const auto& w : workers_) {
    s.turns += w->turn_seq.load(std::memory_order_relaxed) / 2;
    s.steals += w->steals.load(std::memory_order_relaxed);
    s.parks += w->parks.load(std::memory_order_relaxed);
  }
  s.hosted_turns = hosted_turns_.load(std::memory_order_relaxed);
  s.watchdog_ticks = watchdog_ticks_.load(std::memory_order_relaxed);
  s.turns += s.hosted_turns;
  return s;
}

Scheduler::TimerId Scheduler::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  std::lock_guard lock(timer_mutex_);
  TimerId id = next_timer_++;
  const auto when = Clock::now() + delay;
  timers_.emplace(when, std::make_pair(id, std::move(fn)));
  if (when < timer_wakes_at_) {
    timer_wakes_at_ = Clock::time_point::min();  // woken: it looks again before sleeping
    timer_cv_.notify_one();
  }
  return id;
}

bool Scheduler::cancel(TimerId id) {
  std::lock_guard lock(timer_mutex_);
  // From the latest: the timer cancelled is usually one just armed (a request's timeout).
  for (auto it = timers_.rbegin(); it != timers_.rend(); ++it) {
    if (it->second.first == id) {
      timers_.erase(std::next(it).base());
      return true;
    }
  }
  return false;  // (the timer thread may wake for it anyway: it then finds nothing due)
}

void Scheduler::timer_loop() {
  std::unique_lock lock(timer_mutex_);
  while (!timers_stopping_) {
    if (timers_.empty()) {
      timer_wakes_at_ = Clock::time_point::max();
      timer_cv_.wait(lock);
      timer_wakes_at_ = Clock::time_point::min();
      continue;
    }
    auto first = timers_.begin();
    if (const auto when = first->first; when > Clock::now()) {
      // A copy: the entry may be cancelled (erased) while we wait.
      timer_wakes_at_ = when;
      timer_cv_.wait_until(lock, when);
      timer_wakes_at_ = Clock::time_point::min();
      continue;
    }
    auto fn = std::move(first->second.second);
    timers_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

void Scheduler::shutdown() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(park_mutex_);
  }
  park_cv_.notify_all();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  // Dropped only after every worker has stopped: a running turn may still schedule.
  for (auto& w : workers_) {
    std::lock_guard lock(w->mutex);
    w->queue.clear();
    w->next.reset();
  }
  {
    std::lock_guard lock(inject_mutex_);
    injected_.clear();
    injected_size_.store(0);
  }
  {
    std::lock_guard lock(timer_mutex_);
    timers_stopping_ = true;
    timers_.clear();
  }
  timer_cv_.notify_all();
  if (timer_thread_.joinable()) timer_thread_.join();
  {
    std::lock_guard lock(watchdog_mutex_);
    watchdog_stopping_ = true;
  }
  watchdog_cv_.notify_all();
  if (watchdog_thread_.joinable()) watchdog_thread_.join();
}

}  // namespace theater
