#pragma once
// One actor: a manifest, a module, its committed state, a mailbox, and (while active) one wasm
// instance. The runtime owns the state; an instance is only a cache of it, so restart, upgrade
// and resume all mean "a fresh instance plus the last committed state".
//
// Threading: an actor runs on at most one worker at a time (Task protocol). Fields marked
// [turn] are touched only inside the actor's own turn; [lock] ones under `mutex`.
#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "actor/events.hpp"
#include "actor/manifest.hpp"
#include "actor/message.hpp"
#include "base/small_mutex.hpp"
#include "engine/engine.hpp"
#include "scheduler/fiber.hpp"
#include "scheduler/mailbox.hpp"
#include "scheduler/scheduler.hpp"
#include "supervision/policy.hpp"

namespace theater {

class Runtime;
namespace state {
class ActorIo;
class Replayer;
}  // namespace state

enum class ActorStatus { Starting, Running, Failed, Stopping, Stopped };
const char* to_string(ActorStatus);

// A failure as the parent sees it (actor-abi.md, theater_handle_child_error).
struct Failure {
  std::string kind;  // trap | error | timeout | memory | escalated
  std::string message;
};

// Lifecycle work for an actor, handled before its ordinary messages.
struct SystemMessage {
  enum Kind {
    Init,          // instantiate and run theater_init(reason)
    ChildFailed,   // (to a parent) child `subject` failed with `failure`
    ChildExited,   // (to a parent) child `subject` exited normally with `bytes`
    Terminate,     // drop the instance (theater_shutdown first); keep identity: a restart follows
    Stop,          // stop for good: children first, then theater_shutdown, then gone
                   // (both: a handler still running shutdown_timeout_ms after the message
                   // arrived is killed, and so is a theater_shutdown running longer than that)
    Down,          // a monitored actor `subject` stopped; `bytes` is the reason JSON
    Run,           // run `fn` inside this actor's turn (supervision steps, tests)
  };
  explicit SystemMessage(Kind k) : kind(k) {}
  Kind kind;
  uint32_t reason = 0;
  std::string subject;
  Failure failure;
  Bytes bytes;
  std::function<void()> done;  // called when the work is finished
  std::function<void()> fn;
};

// What a handler is running for, as failure messages name it ("init", "send from <id>"): text,
// or a message whose description is made only if the handler fails.
struct HandlerWhat {
  HandlerWhat(const char* text) : text(text) {}
  HandlerWhat(std::string_view text) : text(text) {}
  explicit HandlerWhat(const Message& message) : message(&message) {}
  std::string str() const;

  std::string_view text;
  const Message* message = nullptr;
};

class Actor;

// Where a sender's last message went (Runtime::deliver), so that a run of sends to one actor
// looks it up once. Owned by one actor and used only in its turns. Valid while the runtime's
// registry generation is unchanged: every register and unregister bumps it.
struct SendTarget {
  std::string id;
  std::shared_ptr<Actor> actor;
  uint64_t generation = 0;
  uint32_t sends_since_yield = 0;  // any target's: the send penalty's count (Actor::after_send)
};

class Actor final : public Task, public std::enable_shared_from_this<Actor> {
 public:
  Actor(Runtime& runtime, std::string id, const Manifest& manifest, std::string parent,
        std::shared_ptr<engine::Module> module, Bytes initial_state);
  ~Actor() override;

  // ---- identity (immutable after construction, except manifest/module on upgrade) ----
  const std::string id;
  const std::string parent;  // "" for a top-level actor (the runtime is its parent)
  // The runtime's shared copy (ManifestTable): valid for the runtime's life, swapped on upgrade.
  const Manifest& manifest() const { return *manifest_.load(std::memory_order_acquire); }
  void set_manifest(const Manifest& m);
  std::shared_ptr<engine::Module> module;  // null for the runtime's root and for proxies
  // "" : this node runs the actor. Else the node that does: this object is then a proxy that its
  // parent (here) supervises as any child; it runs no wasm, and its lifecycle work (init,
  // terminate, stop) is done by that node (runtime.remote()->control). Set before it is shared.
  std::string home;
  bool is_proxy() const { return !home.empty(); }

  // ---- Task ----
  void run_turn() override;
  bool has_work() const override;

  // ---- delivery (any thread) ----
  // Ordinary messages; rc is an abi::Rc (EFULL past the mailbox limit, ESTOPPED when stopped).
  int32_t deliver(Message&& message);
  // deliver() of a one-way message, made in its mailbox node (the send path's: no Message is
  // made first and moved in).
  int32_t deliver_send(std::string_view from, std::string_view bytes);
  void deliver_system(SystemMessage message);

  ActorStatus status() const { return status_.load(); }
  Bytes committed_state() const;
  size_t mailbox_depth() const { return mailbox_.size(); }
  uint32_t restarts() const { return restarts_.load(); }
  std::vector<std::string> children() const;
  EventLog& events() { return events_; }
  std::vector<Event> event_history() const { return events_.snapshot(id, manifest().name); }
  // Where this actor's events go (its Journal in the event chain), or, in a replay, where host
  // results come from. Null: nothing is recorded (src/state/io.hpp).
  state::ActorIo* io() const { return io_; }

  // ---- inside the actor's turn (host functions and supervision) ----
  // Suspends this actor's fiber until `wake` is called (from any thread). `start` runs after the
  // actor is marked waiting, so it may call wake at once. Returns false if the wait was cut short
  // because the actor is being stopped or terminated.
  bool await(const std::function<void(std::function<void()> wake)>& start);
  // Marks wait `gen` as woken (a wake for an older wait changes nothing).
  void wake(uint64_t gen);
  bool mark_woken(uint64_t gen);  // true if this made wait `gen` woken
  // Called by the fuel check: fails the handler past its deadline, yields if the turn is long;
  // returns the new fuel.
  int32_t on_fuel_exhausted(engine::Instance& instance);
  // After a send: if its receiver has kSendBacklog messages or more waiting, this actor waits
  // until the receiver has fewer than kDrainedBelow (wait_for_drain; Erlang's send penalty, made
  // a wait), so that a sender faster than its receiver does not pile up messages (memory, and
  // cold caches for both), and the two are not both runnable (they take turns on one core). A
  // receiver that is itself waiting may be waiting for this actor: then it only yields its turn.
  // The time spent waiting does not count toward the handler's deadline. After a wait it may
  // send kSendBurst more before it waits again (never leaving more than kSendBacklog +
  // kSendBurst): a sender to many slow receivers (fork-join) would otherwise wait per message.
  static constexpr size_t kSendBacklog = 256;
  static constexpr uint32_t kSendBurst = 64;
  void after_send();  // (its send target: the last send's)
  // Below this many waiting messages a receiver wakes the senders that wait for it to drain.
  static constexpr size_t kDrainedBelow = kSendBacklog / 4;
  // The longest a sender waits for a drain before it sends on (a wake that never came).
  static constexpr auto kDrainWaitMax = std::chrono::milliseconds(20);

  // What the running handler has asked for ([turn]).
  struct HandlerScratch {
    std::optional<Bytes> staged_state;
    std::optional<Bytes> exit_result;
    std::optional<std::string> fail_message;
    std::shared_ptr<ReplySlot> reply;  // set during theater_handle_request
    bool replied = false;
    Bytes reply_bytes;  // delivered only if the handler succeeds, after the state commit
    // Back to empty for the next handler. Touches only what the last one set: most handlers set
    // nothing, and rebuilding the whole struct cost a tenth of a message's runtime overhead.
    void clear() {
      if (!staged_state && !exit_result && !fail_message && !reply && !replied && reply_bytes.empty()) return;
      if (staged_state) staged_state.reset();
      if (exit_result) exit_result.reset();
      if (fail_message) fail_message.reset();
      reply.reset();
      replied = false;
      if (reply_bytes.capacity() > Bytes().capacity()) Bytes().swap(reply_bytes);
      else reply_bytes.clear();
    }
  };
  HandlerScratch& scratch() { return *scratch_; }  // only inside a handler
  SendTarget& send_target() {  // [turn]
    if (!send_target_) send_target_ = std::make_unique<SendTarget>();
    return *send_target_;
  }
  Runtime& runtime() { return runtime_; }

  // The parent's side of supervision ([turn]). call_child_error returns nullopt if the parent
  // itself failed while deciding; a parent without the export escalates.
  std::optional<supervision::Decision> call_child_error(const std::string& child, const std::string& err_json);
  void call_child_exit(const std::string& child, const Bytes& result);

  // Child bookkeeping ([turn] of this actor as a parent). A static child (one of the manifest's
  // [[children]]) remembers its entry, so that a restart of this actor starts every entry again.
  void add_child(const std::shared_ptr<Actor>& child, std::optional<size_t> static_entry = std::nullopt);
  // The same id, a new object (an adopted actor in its proxy's place); false if not listed.
  bool replace_child(const std::shared_ptr<Actor>& child);
  void remove_child(const std::string& id);
  // Restarts of children within the intensity window; a restarted actor starts with none (OTP:
  // a new supervisor process).
  supervision::RestartHistory restart_history;

 private:
  friend class Runtime;
  friend class state::Replayer;
  void turn_body();
  void handle_system(SystemMessage& msg);
  void handle_proxy_system(SystemMessage& msg);
  void handle_message(Message& msg);
  // Runs one export as a handler: deadline, commit on success, failure otherwise.
  // Returns the export's i32 result when it succeeded.
  std::optional<int32_t> invoke(const engine::ExportFn& fn, std::span<const uint64_t> args,
                                HandlerWhat what, std::shared_ptr<ReplySlot> reply = nullptr);
  // Every call into the instance: it is named in the worker's interrupt slot meanwhile
  // (Scheduler::interrupt_slot), so that a turn that spends no fuel is still preempted.
  std::optional<engine::Trap> call_instance(const engine::ExportFn& fn, std::span<const uint64_t> args,
                                            std::span<uint64_t> results);
  void publish_running(engine::Instance* instance);
  void suspend();  // a wait or a yield inside a handler (on a loop fiber)
  void settle_mailbox() {  // [turn]
    mailbox_.settle(std::exchange(unsettled_pops_, 0));
  }
  void wait_for_drain(std::shared_ptr<Actor> receiver);  // inside a handler (after_send)
  void wake_drained_senders();  // at the end of a turn
  std::optional<int32_t> invoke(std::string_view export_name, std::span<const uint64_t> args,
                                HandlerWhat what, std::shared_ptr<ReplySlot> reply = nullptr);
  bool ensure_instance(uint32_t reason) { return instance_ || make_instance(reason); }
  bool make_instance(uint32_t reason);  // (ensure_instance without one)
  template <typename... MessageArgs>
  int32_t deliver_made(size_t bytes, MessageArgs&&... message);  // Message(message...), of `bytes`
  void fail(Failure failure);
  void drop_instance();
  void exit_normally(Bytes result);
  void stop_children();
  void terminate_children();
  // After a successful init, in start order: each [[children]] entry (on a restart, the child of
  // that entry comes back with its id and committed state; an entry whose child is gone gets a
  // fresh one), then the children spawned through the ABI. As in OTP, a child that fails to
  // start makes this actor fail (after terminating the children started before it).
  void start_children(uint32_t reason);
  // Brings back a child whose instance is gone (terminated, or failed while this actor was down).
  void restart_child(const std::string& id, uint32_t reason = 1 /* abi::kRestart */);
  void handle_stop(SystemMessage& msg);
  void handle_terminate();
  // theater_shutdown, killed past the shutdown deadline.
  void call_shutdown();
  void set_kill_deadline(std::chrono::steady_clock::time_point at);
  void yield_turn();  // inside a handler: continue in a later turn, behind the others
  void arm_hibernation();
  void hibernate_if_idle();
  std::chrono::milliseconds hibernate_after() const;  // the manifest's, else the runtime's
  void finish_stop();
  // Copies bytes into the actor's memory via theater_alloc; returns ptr or nullopt (call failed).
  std::optional<uint32_t> place_bytes(std::string_view bytes);
  // A buffer of `size` bytes from the actor's `fn` (theater_alloc, theater_inbox), checked to lie
  // in its memory; nullopt, the actor failed, if the call trapped or returned 0 or such a buffer.
  std::optional<uint32_t> request_buffer(const engine::ExportFn& fn, uint64_t size);
  // Places a handler's byte arguments and appends (ptr, len) for each to `args`: in the
  // instance's inbox when it exports theater_inbox (docs/abi-additions.md), else through
  // place_bytes. False if that failed (the actor has failed).
  bool place_args(std::initializer_list<std::string_view> parts, uint64_t* args, size_t& nargs);
  // place_args of one part that fits the inbox as it is (most messages): no sizing, no loop.
  // False, having done nothing, when it does not.
  bool place_in_inbox(std::string_view bytes, uint64_t* args);

  // Per instance: the exports a message reaches, looked up once (not by name per message), and
  // the inbox handler arguments go to. Made at the first use after the instance changed.
  struct InstanceExports {
    const engine::Instance* owner = nullptr;
    engine::ExportFn alloc, inbox;
    std::array<engine::ExportFn, kMessageKinds> handlers;
    uint32_t inbox_ptr = 0, inbox_size = 0;
  };
  InstanceExports& exports() {  // of instance_ (set)
    if (exports_ && exports_->owner == instance_.get()) [[likely]] return *exports_;
    return find_exports();
  }
  InstanceExports& find_exports();

  Runtime& runtime_;
  std::atomic<const Manifest*> manifest_;
  mutable SmallMutex mutex_;
  std::atomic<ActorStatus> status_{ActorStatus::Starting};
  Bytes committed_;                      // [lock]
  // A child, held (not named: a million top-level actors would be a million more copies of
  // their ids), with its [[children]] entry if it is a static one.
  static constexpr size_t kNoEntry = SIZE_MAX;
  struct Child {
    std::shared_ptr<Actor> actor;
    size_t static_entry;
  };
  std::vector<Child> children_;  // [lock] in start order
  const Child* child_locked(std::string_view id) const;  // [lock] held
  std::unique_ptr<engine::Instance> instance_;  // [turn]
  // Not padded to cache lines: the count is touched by both sides anyway, and three lines an
  // actor cost more than a hibernated actor's whole budget.
  Mailbox<Message, alignof(void*)> mailbox_;
  Mailbox<SystemMessage, alignof(void*)> system_;  // (little traffic: not cache-line padded)
  std::atomic<uint32_t> restarts_{0};
  uint32_t unsettled_pops_ = 0;  // taken from mailbox_, not yet settled (Mailbox::settle) [turn]
  EventLog events_;

  // The fiber of a turn that waits or has yielded: the loop fiber it ran on (a worker's, or that
  // of a thread that hosted the turn).
  std::unique_ptr<Fiber> fiber_;
  std::atomic<bool> fiber_alive_{false};  // a turn is under way or waits (readable from any thread)
  std::atomic<bool> waiting_{false};
  std::atomic<bool> has_drain_waiters_{false};  // senders wait for this mailbox (Runtime::add_drain_waiter)
  std::atomic<bool> wait_cancelled_{false};
  std::atomic<bool> stop_pending_{false};  // a Stop/Terminate is queued: failures until then are its doing
  bool terminating_ = false;  // handling Terminate: a failure in theater_shutdown is not reported [turn]
  bool killed_ = false;       // the handler that just failed was killed by the shutdown deadline [turn]
  bool killed_stopping_ = false;          // killed while stopping: the down notice says so [turn]
  // Waits are numbered: a wake counts only for the wait it was made for. A wait cut short by a
  // stop leaves its wake behind, and that late wake must not end the next wait.
  std::atomic<uint64_t> wait_gen_{0};   // the current (or last) wait
  std::atomic<uint64_t> woken_gen_{0};  // the latest wait that was woken (only grows)
  // steady_clock ns after which the running handler is killed (a Stop/Terminate is waiting)
  std::atomic<int64_t> kill_at_ns_{std::numeric_limits<int64_t>::max()};
  std::unique_ptr<Failure> last_failure_;  // since the last successful init: a stop says "failure" [turn]
  // Down notices that came while restarting [turn] (rare: not inline, every actor would pay for it)
  std::unique_ptr<std::vector<SystemMessage>> deferred_downs_;
  std::unique_ptr<HandlerScratch> scratch_;  // set while handlers run; dropped on hibernation
  // Dropped with the instance (drop_instance), so a later instance at the same address never
  // meets the handles of an earlier one; an instance swapped in elsewhere (an upgrade, a replay)
  // differs from `owner` and gets its own.
  std::unique_ptr<InstanceExports> exports_;  // [turn]
  std::unique_ptr<SendTarget> send_target_;  // [turn] dropped with the instance (a hibernated actor has none)
  std::chrono::steady_clock::time_point deadline_{};
  std::chrono::steady_clock::time_point turn_started_{};  // {}: no fuel check yet this turn
  int64_t last_active_ns_ = 0;  // end of the last turn, by the coarse clock (actor.cpp) [turn]
  uint32_t handlers_seen_ = 0;  // messages handled, for sampling the latency histogram [turn]
  // (The small fields are kept together: a hibernated actor is mostly this object.)
  bool handler_running_ = false;
  uint8_t wasm_depth_ = 0;      // calls into the instance in progress (nested: theater_alloc) [turn]
  bool exited_ = false;  // the last handler ended the actor normally (exit / proc_exit) [turn]
  std::atomic<bool> hibernation_armed_{false};  // a hibernation timer is pending
  state::ActorIo* io_ = nullptr;  // set before the actor's first turn
  // During an upgrade's trial init, a failure lands here (and the old version is put back)
  // instead of going to the parent [turn].
  std::optional<Failure>* trial_failure_ = nullptr;
};

}  // namespace theater
