#include "actor/runtime.hpp"

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "abi/abi.hpp"
#include "base/files.hpp"
#include "engine/aot/aot_engine.hpp"
#include "supervision/policy.hpp"

namespace theater {

namespace {

void install_fiber_hooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    Fiber::set_thread_state_hooks({engine::aot_save_thread_state, engine::aot_restore_thread_state});
  });
}

// Runs fn on caller's fiber if there is one, else blocks this (outside) thread until done.
template <typename Start>
void wait_for(Actor* caller, Start&& start) {
  if (caller && Fiber::on_loop()) {
    caller->await(start);
    return;
  }
  std::promise<void> p;
  auto f = p.get_future();
  start([&p] { p.set_value(); });
  f.wait();
}

}  // namespace

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Event::json() const {
  return nlohmann::json{{"seq", seq},   {"time_ms", time_ms}, {"actor", actor},
                        {"name", name}, {"type", type},       {"detail", detail}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // an actor's log need not be UTF-8
}

const char* to_string(MessageKind k) {
  switch (k) {
    case MessageKind::Send: return "send";
    case MessageKind::Request: return "request";
    case MessageKind::Timer: return "timer";
    case MessageKind::ChannelOpen: return "channel-open";
    case MessageKind::ChannelMessage: return "channel-message";
    case MessageKind::ChannelClose: return "channel-close";
  }
  return "?";
}

Runtime::Runtime(RuntimeConfig config)
    : config_(std::move(config)),
      blobs_(config_.data_dir.empty() ? std::filesystem::path() : config_.data_dir / "blobs") {
  install_fiber_hooks();
  if (!config_.data_dir.empty()) store_ = state::Store::open(config_.data_dir, config_.store);
  engine_ = engine::Engine::create(config_.engine);
  scheduler_ = std::make_unique<Scheduler>(config_.workers);
  Manifest root_manifest;
  root_manifest.name = "runtime";
  root_manifest.supervision = config_.root_supervision;
  root_ = std::make_shared<Actor>(*this, "runtime", root_manifest, "", nullptr, Bytes{});
  root_->status_.store(ActorStatus::Running);
}

Runtime::~Runtime() {
  shutdown();
  if (remote_) remote_->detach();  // no more calls in from the cluster's threads
  scheduler_->shutdown();
  store_.reset();  // writes what is queued
}

void Runtime::attach_remote(std::shared_ptr<RemoteNodes> remote, const std::string& node) {
  remote_ = std::move(remote);
  node_ = node;
  channel_prefix_ = fmt::format("ch-{}-", node);
}

std::string Runtime::new_actor_id(const std::string& name) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}-{:012x}", name, rng() & 0xffffffffffffULL);
}

std::shared_ptr<engine::Module> Runtime::load_module(const Manifest& manifest) {
  const std::string key =
      manifest.component_path.empty() ? manifest.component : manifest.component_path.string();
  if (!manifest.component_path.empty() || manifest.component.rfind("sha256:", 0) != 0) {
    // Cached per path while the file keeps its size and mtime (a rebuild, an upgrade is seen).
    const auto label = manifest.component_path.filename().string();
    return module_files_.get(
        manifest.component_path, manifest.handlers,
        [&](const std::filesystem::path& path) {
          auto bytes = read_file_bytes(path);
          auto module = load_module_bytes(bytes, manifest, label);
          if (store_) blobs_.put(bytes);  // a recovered or replayed actor finds its module there
          return module;
        },
        [&](const engine::ModuleInfo& info) { abi::check_imports(info, manifest.handlers, label); });
  }
  std::lock_guard lock(modules_mutex_);
  auto it = modules_.find(key);
  if (it != modules_.end()) return it->second;
  auto bytes = blobs_.get(key);
  if (!bytes) throw std::runtime_error(fmt::format("{}: component {} is not in the store", manifest.source, key));
  auto module = load_module_bytes({reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()}, manifest, key);
  modules_[key] = module;
  return module;
}

std::shared_ptr<engine::Module> Runtime::load_module_bytes(std::span<const uint8_t> bytes, const Manifest& manifest,
                                                           const std::string& label) {
  auto info = engine::inspect(bytes, label);
  abi::check_imports(info, manifest.handlers, label);
  abi::check_exports(info, label);
  return engine_->load(bytes, abi::linker(), label);
}

Bytes Runtime::initial_state(const Manifest& manifest, std::optional<Bytes> init_state) {
  if (init_state) return std::move(*init_state);
  if (manifest.init_state) return read_file_text(*manifest.init_state);
  return {};
}

std::shared_ptr<Actor> Runtime::create_actor(const Manifest& manifest,
                                             std::optional<Bytes> init_state,
                                             const std::string& parent,
                                             std::optional<size_t> static_entry, std::string id) {
  auto module = load_module(manifest);
  auto state = initial_state(manifest, std::move(init_state));
  if (state.size() > manifest.limits.max_state_bytes) {
    throw std::runtime_error(fmt::format("{}: initial state of {} bytes is over max_state_bytes",
                                         manifest.source, state.size()));
  }
  auto actor = std::make_shared<Actor>(*this, id.empty() ? new_actor_id(manifest.name) : std::move(id),
                                       manifest, parent, std::move(module), std::move(state));
  if (remote_) remote_->registered(*actor, static_entry);  // first: if the cluster refuses, nothing is left behind
  if (store_) {
    try {
      persist_created(*actor);  // before anyone here can reach it
    } catch (...) {
      if (remote_) remote_->unregistered(actor->id);
      throw;
    }
  }
  add_actor(actor, static_entry);
  return actor;
}

void Runtime::add_actor(const std::shared_ptr<Actor>& actor, std::optional<size_t> static_entry) {
  bool replaced = false;  // an adopted actor takes the place of its proxy
  {
    std::unique_lock lock(registry_mutex_);
    replaced = put_actor(actor);
  }
  // A parent on another node keeps its own list (of its proxies); one here lists it once. Only a
  // replaced entry can already be listed: a new id is not searched for (a parent may have a
  // hundred thousand children).
  auto parent_actor = actor->parent.empty() ? root_ : find(actor->parent);
  if (!parent_actor) return;
  if (!(replaced && parent_actor->replace_child(actor))) parent_actor->add_child(actor, static_entry);
}

bool Runtime::put_actor(const std::shared_ptr<Actor>& actor) {
  const auto old = actors_.find(actor->id);
  const bool replaced = old != actors_.end();
  if (replaced) actors_.erase(old);  // its key views the old actor's id
  actors_.emplace(actor->id, actor);
  registry_generation_.fetch_add(1, std::memory_order_release);
  return replaced;
}

std::shared_ptr<Actor> Runtime::add_proxy(const std::string& id, const Manifest& manifest,
                                          const std::string& parent, const std::string& home) {
  auto proxy = std::make_shared<Actor>(*this, id, manifest, parent, nullptr, Bytes{});
  proxy->home = home;
  add_actor(proxy);
  return proxy;
}

void Runtime::proxy_started(const std::string& id) {
  auto actor = find(id);
  auto starting = ActorStatus::Starting;
  if (actor) actor->status_.compare_exchange_strong(starting, ActorStatus::Running);
}

void Runtime::report_exited(const std::string& id, const Bytes& result) {
  SystemMessage m{SystemMessage::ChildExited};
  m.bytes = result;
  report_to_parent(id, ActorStatus::Stopped, "exited", result, std::move(m));
}

void Runtime::report_to_parent(const std::string& id, ActorStatus status, const char* event,
                               const std::string& detail, SystemMessage news) {
  auto actor = find(id);
  if (!actor) return;
  actor->status_.store(status);
  record(*actor, event, detail);
  auto parent = actor->parent.empty() ? root_ : find(actor->parent);
  if (!parent) return;
  news.subject = id;
  parent->deliver_system(std::move(news));
}

void Runtime::revive(const std::string& id) {
  auto actor = find(id);
  auto stopped = ActorStatus::Stopped;
  if (actor) actor->status_.compare_exchange_strong(stopped, ActorStatus::Starting);
}

std::string Runtime::spawn_with_id(const std::string& id, const Manifest& manifest,
                                   std::optional<Bytes> init_state, const std::string& parent) {
  auto actor = create_actor(manifest, std::move(init_state), parent, std::nullopt, id);
  record(*actor, "created", fmt::format("{} (for {})", manifest.source, parent.empty() ? "the runtime" : parent));
  SystemMessage m{SystemMessage::Init};
  m.reason = abi::kFirstStart;
  system_and_wait(nullptr, *actor, std::move(m));
  return actor->id;
}

std::shared_ptr<Actor> Runtime::adopt(const std::string& id, const Manifest& manifest, Bytes state,
                                      const std::string& parent, std::optional<size_t> static_entry,
                                      const Provenance& from) {
  auto actor = std::make_shared<Actor>(*this, id, manifest, parent, load_module(manifest), std::move(state));
  if (store_) persist_created(*actor, &from);
  add_actor(actor, static_entry);  // status Starting; takes the place of a proxy of it, if there was one
  record(*actor, "adopted", fmt::format("{} state bytes", actor->committed_state().size()));
  return actor;
}

void Runtime::report_failed(const std::string& id, const Failure& failure) {
  SystemMessage m{SystemMessage::ChildFailed};
  m.failure = failure;
  report_to_parent(id, ActorStatus::Failed, "failed", fmt::format("{}: {}", failure.kind, failure.message),
                   std::move(m));
}

void Runtime::disown(const std::string& id) {
  if (auto actor = find(id)) record(*actor, "disowned", "another node owns it now");
  stop(id);
}

std::string Runtime::spawn_from(Actor& parent, const Manifest& manifest,
                                std::optional<Bytes> init_state, std::optional<size_t> static_entry) {
  auto actor = create_actor(manifest, std::move(init_state), &parent == root_.get() ? "" : parent.id,
                            static_entry);
  SystemMessage m{SystemMessage::Init};
  m.reason = abi::kFirstStart;
  system_and_wait(&parent, *actor, std::move(m));
  return actor->id;
}

std::string Runtime::spawn(const Manifest& manifest, std::optional<Bytes> init_state,
                           const std::string& parent) {
  if (!parent.empty() && parent != "runtime") return spawn_under(parent, manifest, std::move(init_state));
  auto actor = create_actor(manifest, std::move(init_state), "");
  record(*actor, "created", manifest.source);
  SystemMessage m{SystemMessage::Init};
  m.reason = abi::kFirstStart;
  system_and_wait(nullptr, *actor, std::move(m));
  return actor->id;
}

// In the parent's turn, as its own `spawn` would: ordered with its supervision work, and never
// under a parent that is stopping or restarting (its new child would be left out of that).
std::string Runtime::spawn_under(const std::string& parent_id, const Manifest& manifest, std::optional<Bytes> init_state) {
  auto parent = find(parent_id);
  if (!parent || !parent->module) throw std::runtime_error(fmt::format("no actor {} here to be the parent", parent_id));
  std::string id;
  std::exception_ptr error;
  SystemMessage m{SystemMessage::Run};
  m.fn = [&] {
    if (const auto s = parent->status(); s != ActorStatus::Running) {
      error = std::make_exception_ptr(std::runtime_error(fmt::format("parent {} is {}, not running", parent_id, to_string(s))));
      return;
    }
    try {
      id = spawn_from(*parent, manifest, std::move(init_state));
    } catch (...) {
      error = std::current_exception();
    }
  };
  system_and_wait(nullptr, *parent, std::move(m));
  if (error) std::rethrow_exception(error);
  return id;
}

std::shared_ptr<Actor> Runtime::find(std::string_view id) const {
  if (id == "runtime") return root_;
  std::shared_lock lock(registry_mutex_);
  auto it = actors_.find(id);
  return it == actors_.end() ? nullptr : it->second;
}

void Runtime::unregister(const std::string& id) {
  std::shared_ptr<Actor> gone;
  {
    std::unique_lock lock(registry_mutex_);
    auto it = actors_.find(id);
    if (it == actors_.end()) return;
    gone = std::move(it->second);
    actors_.erase(it);
    registry_generation_.fetch_add(1, std::memory_order_release);
  }
  // Stopped for good, unless the whole runtime is shutting down: then the tree stays stored and
  // the next runtime on this data dir brings it back. (A proxy has no row: its home node's store
  // keeps the actor.)
  if (store_ && !gone->is_proxy()) {
    std::lock_guard lock(tree_mutex_);
    if (!shut_down_) store_->set_stopped(id);
  }
  if (!remote_) return;
  if (gone->is_proxy()) {
    // Its parent here is done with it (stopped, or exited and not restarted): so is its node.
    remote_->control(gone->home, id, RemoteNodes::Control::Forget, 0, [](int32_t) {});
  } else {
    remote_->unregistered(id);
  }
}

int32_t Runtime::deliver_local(const std::string& to, Message message) {
  auto actor = find(to);
  if (!actor || !actor->module) return abi::kENOTFOUND;
  return actor->deliver(std::move(message));
}

Actor* Runtime::local_target(std::string_view to, SendTarget* cache, std::shared_ptr<Actor>& keep) {
  if (cache && cache->actor && cache->id == to &&
      cache->generation == registry_generation_.load(std::memory_order_acquire)) {
    return cache->actor.get();  // the cache's reference keeps it alive
  }
  // Read before the lookup: a change during it leaves the cache stale, never wrong.
  const uint64_t generation = registry_generation_.load(std::memory_order_acquire);
  keep = find(to);
  if (cache && keep) *cache = SendTarget{std::string(to), keep, generation, cache->sends_since_yield};
  return keep.get();
}

int32_t Runtime::deliver(std::string_view to, Message&& message, SendTarget* cache) {
  std::shared_ptr<Actor> keep;
  Actor* actor = local_target(to, cache, keep);
  if (actor && actor->module) return actor->deliver(std::move(message));
  return deliver_elsewhere(to, actor, std::move(message));
}

int32_t Runtime::deliver_elsewhere(std::string_view to, Actor* actor, Message&& message) {
  // No actor here, the runtime's root (it has no wasm), or a proxy of an actor on another node.
  if (actor && !actor->is_proxy()) return abi::kENOTFOUND;
  return remote_ ? remote_->deliver(std::string(to), std::move(message)) : abi::kENOTFOUND;
}

int32_t Runtime::send(std::string_view to, std::string_view message, const std::string& from, SendTarget* cache) {
  std::shared_ptr<Actor> keep;
  Actor* actor = local_target(to, cache, keep);
  if (actor && actor->module) return actor->deliver_send(from, message);
  return deliver_elsewhere(to, actor, Message(MessageKind::Send, from, Bytes(message)));
}

void Runtime::add_drain_waiter(Actor& receiver, const Actor* sender, std::function<void()> wake) {
  std::lock_guard lock(drain_mutex_);
  drain_waiters_[&receiver].emplace_back(sender, std::move(wake));
  receiver.has_drain_waiters_.store(true);  // seq_cst: see Actor::wake_drained_senders
}

void Runtime::remove_drain_waiter(Actor& receiver, const Actor* sender) {
  std::lock_guard lock(drain_mutex_);
  auto it = drain_waiters_.find(&receiver);
  if (it == drain_waiters_.end()) return;
  std::erase_if(it->second, [sender](const auto& w) { return w.first == sender; });
  if (it->second.empty()) {
    drain_waiters_.erase(it);
    receiver.has_drain_waiters_.store(false);
  }
}

size_t Runtime::wake_drain_waiters(Actor& receiver) {
  std::vector<std::pair<const Actor*, std::function<void()>>> woken;
  {
    std::lock_guard lock(drain_mutex_);
    auto it = drain_waiters_.find(&receiver);
    if (it == drain_waiters_.end()) return 0;
    woken = std::move(it->second);
    drain_waiters_.erase(it);
    receiver.has_drain_waiters_.store(false);
  }
  for (auto& [sender, wake] : woken) wake();
  return woken.size();
}

RequestResult Runtime::request(const std::string& to, Bytes message,
                               std::chrono::milliseconds timeout, const std::string& from) {
  auto promise = std::make_shared<std::promise<RequestResult>>();
  auto future = promise->get_future();
  auto slot = std::make_shared<ReplySlot>(
      [promise](int rc, Bytes reply) { promise->set_value({rc, std::move(reply)}); });
  Message m;
  m.kind = MessageKind::Request;
  m.from = from;
  m.bytes = std::move(message);
  m.reply = slot;
  if (int32_t rc = deliver(to, std::move(m)); rc != abi::kOk) return {rc, {}};
  if (future.wait_for(timeout) != std::future_status::ready) {
    if (slot->complete(abi::kETIMEOUT, {})) return future.get();
  }
  return future.get();
}

bool Runtime::in_parents_turn(const std::string& id,
                               void (Runtime::*step)(Actor& parent, const std::string& id)) {
  auto actor = find(id);
  if (!actor || (!actor->module && !actor->is_proxy())) return false;
  auto local_parent = actor->parent.empty() ? root_ : find(actor->parent);
  if (!local_parent) {
    // Its parent lives on another node (which decides restarts): here it can only be stopped.
    if (step != &Runtime::stop_from) return false;
    system_and_wait(nullptr, *actor, SystemMessage{SystemMessage::Stop});
    unregister(id);
    return true;
  }
  Actor& parent = *local_parent;
  // The parent's turn performs it, so it is ordered with the parent's other supervision work.
  SystemMessage m{SystemMessage::Run};
  m.fn = [this, &parent, id, step] { (this->*step)(parent, id); };
  system_and_wait(nullptr, parent, std::move(m));
  return true;
}

bool Runtime::stop(const std::string& id, bool anywhere) {
  if (in_parents_turn(id, &Runtime::stop_from)) return true;
  return anywhere && remote_ && !find(id) && remote_->lifecycle(id, RemoteNodes::Control::StopActor) == abi::kOk;
}

bool Runtime::restart(const std::string& id, bool anywhere) {
  if (in_parents_turn(id, &Runtime::restart_from)) return true;
  return anywhere && remote_ && !find(id) && remote_->lifecycle(id, RemoteNodes::Control::RestartActor) == abi::kOk;
}

void Runtime::system_and_wait(Actor* caller, Actor& target, SystemMessage m) {
  wait_for(caller, [&](std::function<void()> wake) {
    m.done = std::move(wake);
    target.deliver_system(std::move(m));
  });
}

void Runtime::stop_from(Actor& caller, const std::string& id) {
  auto child = find(id);
  if (!child) return;
  if (child->status() != ActorStatus::Stopped) system_and_wait(&caller, *child, SystemMessage{SystemMessage::Stop});
  caller.remove_child(id);
  unregister(id);
}

void Runtime::terminate_from(Actor& caller, const std::string& id) {
  auto child = find(id);
  if (!child || child->status() == ActorStatus::Stopped) return;
  system_and_wait(&caller, *child, SystemMessage{SystemMessage::Terminate});
}

void Runtime::restart_from(Actor& caller, const std::string& id) {
  auto child = find(id);
  if (!child || child->status() == ActorStatus::Stopped) return;
  terminate_from(caller, id);
  child->restarts_.fetch_add(1);
  const SupervisionSpec& spec = caller.manifest().supervision;
  record(*child, "restarting",
         fmt::format("restart {} ({}/{} allowed within {} ms)", child->restarts(),
                     caller.restart_history.size(), spec.max_restarts, spec.within_ms));
  SystemMessage m{SystemMessage::Init};
  m.reason = abi::kRestart;
  system_and_wait(&caller, *child, std::move(m));
}

namespace {
// The parent's answer to a failure or an exit comes in the parent's turn, while it runs: a parent
// that is down itself (failed, stopping) restarts or stops its children with itself.
bool supervising(Actor& parent) { return !parent.module || parent.status() == ActorStatus::Running; }
}  // namespace

void Runtime::on_child_failed(Actor& parent, const std::string& child_id, const Failure& failure) {
  auto child = find(child_id);
  if (!child || child->status() != ActorStatus::Failed) return;  // stopped or restarted meanwhile
  if (!supervising(parent)) return;
  const SupervisionSpec& spec = parent.manifest().supervision;

  std::optional<supervision::Decision> custom;
  if (spec.on_failure == OnFailure::Custom && parent.module) {
    nlohmann::json err{{"kind", failure.kind},
                       {"message", failure.message},
                       {"restarts", child->restarts()}};
    const std::string text = err.dump();
    auto decision = parent.call_child_error(child_id, text);
    if (!decision) return;  // the parent failed deciding: its own failure takes over
    custom = *decision;
  }
  auto decision = supervision::decide(spec, child->manifest().restart, true, custom);
  apply_decision(parent, *child, decision, fmt::format("child {} failed: {}", child->manifest().name, failure.message));
}

void Runtime::on_child_exited(Actor& parent, const std::string& child_id, const Bytes& result) {
  auto child = find(child_id);
  if (!child) return;
  if (!supervising(parent)) {
    // Gone for good; a [[children]] entry gets a fresh child when the parent starts again.
    parent.remove_child(child_id);
    unregister(child_id);
    return;
  }
  if (parent.module) parent.call_child_exit(child_id, result);
  auto decision = supervision::decide(parent.manifest().supervision, child->manifest().restart, false);
  if (decision == supervision::Decision::Restart) {
    // The instance is gone but the identity stays for the restart.
    child->status_.store(ActorStatus::Starting);
    apply_decision(parent, *child, decision, "");
  } else {
    parent.remove_child(child_id);
    unregister(child_id);
  }
}

void Runtime::apply_decision(Actor& parent, Actor& child, supervision::Decision decision,
                             const std::string& why) {
  using supervision::Decision;
  const SupervisionSpec& spec = parent.manifest().supervision;
  const std::string child_id = child.id;
  if (decision == Decision::Restart &&
      supervision::restart_intensity_exceeded(parent.restart_history,
                                              std::chrono::steady_clock::now(), spec)) {
    decision = Decision::Escalate;
    record(parent, "intensity", fmt::format("more than {} restarts within {} ms", spec.max_restarts, spec.within_ms));
  }
  // The decision as carried out (a restart past the intensity is an escalation).
  record(child, "decision", fmt::format("{} by {}", supervision::to_string(decision), parent.manifest().name));
  switch (decision) {
    case Decision::Stop:
      stop_from(parent, child_id);
      break;
    case Decision::Restart:
      restart_scope(parent, child_id);
      break;
    case Decision::Escalate:
      escalate(parent, why);
      break;
  }
}

// As OTP's supervisor: the children in the strategy's scope are stopped in reverse start order
// (the failed one is down already; a temporary one is stopped for good, never restarted), then
// started again in start order.
void Runtime::restart_scope(Actor& parent, const std::string& child_id) {
  auto kids = parent.children();
  auto pos = std::find(kids.begin(), kids.end(), child_id);
  const size_t failed = pos == kids.end() ? 0 : static_cast<size_t>(pos - kids.begin());
  auto scope = supervision::restart_scope(parent.manifest().supervision.strategy, kids.size(), failed);
  auto temporary_sibling = [&](const std::string& id) {
    auto a = find(id);
    return id != child_id && a && a->manifest().restart == RestartType::Temporary;
  };
  for (auto it = scope.rbegin(); it != scope.rend(); ++it) {
    const std::string& id = kids[*it];
    if (id == child_id) continue;
    if (temporary_sibling(id)) {
      stop_from(parent, id);
    } else {
      terminate_from(parent, id);
    }
  }
  for (size_t index : scope) {
    const std::string& id = kids[index];
    if (temporary_sibling(id)) continue;
    restart_from(parent, id);
    // Being stopped: the rest of the restart is abandoned (the stop stops them all).
    if (parent.stop_pending_.load()) return;
    // It failed to start: its failure is on its way here, and the restart is tried again then
    // (OTP's try_again), counting against the intensity; the later children wait until then.
    auto a = find(id);
    if (a && a->status() == ActorStatus::Failed) return;
  }
}

void Runtime::escalate(Actor& parent, const std::string& why) {
  if (&parent == root_.get()) {
    stop_tree(why);
    return;
  }
  // The parent gives up: it stops its children (reverse start order) and fails itself, with kind
  // "escalated"; its own parent decides next.
  record(parent, "escalated", why);
  parent.stop_children();
  parent.fail({"escalated", why});
}

void Runtime::stop_tree(const std::string& reason) {
  {
    std::lock_guard lock(tree_mutex_);
    if (!tree_stopped_) tree_stopped_ = reason;
  }
  record(*root_, "tree-stopped", reason);
  // Nothing is left behind: every top-level actor (failed ones included) is stopped for good,
  // its children with it.
  root_->stop_children();
  tree_cv_.notify_all();
}

std::optional<std::string> Runtime::tree_stopped_reason() const {
  std::lock_guard lock(tree_mutex_);
  return tree_stopped_;
}

bool Runtime::wait_tree_stopped(std::chrono::milliseconds timeout) {
  std::unique_lock lock(tree_mutex_);
  return tree_cv_.wait_for(lock, timeout, [&] { return tree_stopped_.has_value(); });
}

void Runtime::shutdown() {
  {
    std::lock_guard lock(tree_mutex_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  SystemMessage m{SystemMessage::Run};
  m.fn = [this] { root_->stop_children(); };
  system_and_wait(nullptr, *root_, std::move(m));
}

bool Runtime::wait_idle(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  int quiet_checks = 0;
  while (std::chrono::steady_clock::now() < until) {
    bool busy = root_->has_work();
    {
      std::shared_lock lock(registry_mutex_);
      for (const auto& [id, a] : actors_) {
        const auto s = a->status();
        if (a->has_work() || a->waiting_.load() || s == ActorStatus::Starting ||
            s == ActorStatus::Failed || s == ActorStatus::Stopping) {
          busy = true;
          break;
        }
      }
    }
    quiet_checks = busy ? 0 : quiet_checks + 1;
    if (quiet_checks >= 3) return true;  // quiet for three looks in a row: settled
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

std::vector<std::string> Runtime::top_level() const { return root_->children(); }

std::vector<ActorSummary> Runtime::list() const {
  std::vector<ActorSummary> out;
  std::shared_lock lock(registry_mutex_);
  for (const auto& [id, a] : actors_) {
    out.push_back({std::string(id), a->manifest().name, a->parent, a->status(), a->restarts(), a->mailbox_depth(),
                   a->committed_state().size(), a->is_proxy() ? a->home : node_});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });  // by id, as before
  return out;
}

void Runtime::observe(Observer observer) {
  std::lock_guard lock(observers_mutex_);
  observers_.push_back(std::move(observer));
}

void Runtime::record(Actor& actor, std::string type, std::string detail) {
  Event e;
  e.time_ms = wall_ms();
  e.actor = actor.id;
  e.name = actor.manifest().name;
  e.type = std::move(type);
  e.detail = std::move(detail);
  if (actor.io_) actor.io_->lifecycle(e.type, e.detail);
  actor.events().add(e);  // numbers it: observers see the same seq as the log
  std::lock_guard lock(observers_mutex_);
  for (auto& o : observers_) o(e);
}

// ---- monitors and channels -------------------------------------------------------------------

int32_t Runtime::monitor(const std::string& watcher, const std::string& target) {
  auto t = find(target);
  if (!t || !t->module) return abi::kENOTFOUND;
  if (t->status() == ActorStatus::Stopped) {
    if (auto w = find(watcher)) {
      SystemMessage m{SystemMessage::Down};
      m.subject = target;
      m.bytes = R"({"reason":"noproc"})";
      w->deliver_system(std::move(m));
    }
    return abi::kOk;
  }
  std::lock_guard lock(monitors_mutex_);
  monitors_.add(watcher, target);
  return abi::kOk;
}

int32_t Runtime::demonitor(const std::string& watcher, const std::string& target) {
  std::lock_guard lock(monitors_mutex_);
  return monitors_.remove(watcher, target) ? abi::kOk : abi::kENOTFOUND;
}

void Runtime::notify_down(const std::string& target, const std::function<std::string()>& reason_json) {
  std::vector<std::string> watchers;
  {
    std::lock_guard lock(monitors_mutex_);
    watchers = monitors_.take_watchers_of(target);
  }
  if (watchers.empty()) return;
  const std::string reason = reason_json();
  for (const auto& w : watchers) {
    if (auto actor = find(w)) {
      SystemMessage m{SystemMessage::Down};
      m.subject = target;
      m.bytes = reason;
      actor->deliver_system(std::move(m));
    }
  }
}

void Runtime::drop_monitors_of(const std::string& watcher) {
  std::lock_guard lock(monitors_mutex_);
  monitors_.drop_watcher(watcher);
}

std::string Runtime::new_channel(const std::string& opener, const std::string& target) {
  static std::atomic<uint64_t> next{1};
  Channel ch{fmt::format("{}{}", channel_prefix_, next.fetch_add(1)), opener, target, false};
  std::lock_guard lock(channels_mutex_);
  channels_[ch.id] = ch;
  return ch.id;
}

void Runtime::add_channel(const Channel& channel) {
  std::lock_guard lock(channels_mutex_);
  channels_[channel.id] = channel;
}

std::optional<Runtime::Channel> Runtime::channel(const std::string& id) const {
  std::lock_guard lock(channels_mutex_);
  auto it = channels_.find(id);
  if (it == channels_.end()) return std::nullopt;
  return it->second;
}

void Runtime::set_channel_open(const std::string& id, bool open) {
  std::lock_guard lock(channels_mutex_);
  if (!open) {
    channels_.erase(id);
    return;
  }
  if (auto it = channels_.find(id); it != channels_.end()) it->second.open = true;
}

void Runtime::close_channels_of(const std::string& actor) {
  std::vector<Channel> closed;
  {
    std::lock_guard lock(channels_mutex_);
    for (auto it = channels_.begin(); it != channels_.end();) {
      if (it->second.opener == actor || it->second.target == actor) {
        if (it->second.open) closed.push_back(it->second);
        it = channels_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& ch : closed) {
    Message m;
    m.kind = MessageKind::ChannelClose;
    m.from = actor;
    m.channel = ch.id;
    deliver(ch.opener == actor ? ch.target : ch.opener, std::move(m));
  }
}

}  // namespace theater
