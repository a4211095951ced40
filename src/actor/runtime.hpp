#pragma once
// The runtime: the engine, the scheduler, every live actor by id, and the supervision tree
// rooted in itself. Messages from outside (the CLI, tests, the server) enter through the same
// deliver path as messages between actors.
//
//   message in -> Actor::deliver (mailbox) -> Scheduler (worker) -> Actor::run_turn (fiber)
//     -> instance (engine) -> state commit + events -> failure? -> parent's turn (supervision)
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "actor/actor.hpp"
#include "actor/events.hpp"
#include "actor/manifest.hpp"
#include "actor/monitors.hpp"
#include "actor/manifest_table.hpp"
#include "actor/remote.hpp"
#include "actor/module_cache.hpp"
#include "engine/engine.hpp"
#include "scheduler/scheduler.hpp"
#include "state/blob_store.hpp"
#include "state/store.hpp"
#include "supervision/policy.hpp"

namespace theater {

struct RuntimeConfig {
  engine::EngineConfig engine;
  unsigned workers = 0;  // 0 = one per core
  std::filesystem::path data_dir;  // empty: nothing is written to disk
  // An actor idle this long drops its instance and keeps only its committed state (0 = never).
  std::chrono::milliseconds hibernate_after{0};
  // How the runtime supervises top-level actors (it is the root of every tree).
  SupervisionSpec root_supervision;
  // With a data_dir: durability of state commits, and the event chain (docs/state.md).
  state::StoreOptions store;
  bool chain = true;  // false: only states are stored, no events
};

struct RequestResult {
  int32_t rc = 0;  // abi::Rc
  Bytes reply;
};

struct ActorSummary {
  std::string id, name, parent;
  ActorStatus status;
  uint32_t restarts;
  size_t mailbox;
  size_t state_bytes;
  std::string node;  // the cluster node that runs it ("" without a cluster); a proxy's home
};

class Runtime {
 public:
  explicit Runtime(RuntimeConfig config = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;

  // Starts an actor (and its [[children]]) under `parent` ("" = the runtime). Loads and checks
  // the module first: errors (bad manifest, bad wasm, refused import) throw with a clear message.
  // Returns the new id once its theater_init has run (successfully or not: a failed init is a
  // failure handled by supervision). Under an actor, it is started in that actor's turn, as if
  // the actor had spawned it; a parent that is not here or not running is refused (throws).
  std::string spawn(const Manifest& manifest, std::optional<Bytes> init_state = std::nullopt,
                    const std::string& parent = "");

  // From outside the actor system, and from an actor's send (with its target cache). The bytes
  // are copied once, into the receiver's mailbox node.
  int32_t send(std::string_view to, std::string_view message, const std::string& from = "external",
               SendTarget* cache = nullptr);
  RequestResult request(const std::string& to, Bytes message,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30),
                        const std::string& from = "external");
  // Stops an actor for good (its children first). Blocks until done. In a cluster, an actor of
  // another node is stopped there (`anywhere`: the node that hosts it asks with false).
  bool stop(const std::string& id, bool anywhere = true);
  // Restarts an actor as its supervisor would (same id, last committed state); in a cluster, on
  // the node that hosts it.
  bool restart(const std::string& id, bool anywhere = true);
  // Stops every tree, in reverse start order. Idempotent.
  void shutdown();

  std::shared_ptr<Actor> find(std::string_view id) const;

  // Every message to an actor goes through here: the local actor if this node hosts `to` (no
  // other cost), else the cluster (RemoteNodes), else ENOTFOUND. Same errors either way. With a
  // `cache`, a send to the same actor as last time skips the registry.
  int32_t deliver(std::string_view to, Message&& message, SendTarget* cache = nullptr);
  // Only this node's actors (messages that arrived from another node end here).
  int32_t deliver_local(const std::string& to, Message message);

  // Joins this runtime to a cluster (src/cluster/): call before the first spawn. `node` names
  // this node; it makes channel ids unique across the cluster.
  void attach_remote(std::shared_ptr<RemoteNodes> remote, const std::string& node);
  RemoteNodes* remote() const { return remote_.get(); }
  // This node's name: the cluster's, or "local" without one.
  const std::string& node_name() const {
    static const std::string local = "local";
    return node_.empty() ? local : node_;
  }
  // Recreates an actor that another node hosted (same id, its committed state) under `parent`
  // ("" = the runtime); the cluster has already claimed it. It waits, as a terminated child
  // does, for a restart: its adopted parent's, or the one that report_failed leads to.
  // `static_entry`: the parent's [[children]] entry it was started for (see spawn_from). With a
  // store, its chain here continues from `chain_head`, where it ended on node `from_node`.
  struct Provenance {
    std::optional<state::ChainHead> chain_head;
    std::string from_node;
  };
  std::shared_ptr<Actor> adopt(const std::string& id, const Manifest& manifest, Bytes state,
                               const std::string& parent, std::optional<size_t> static_entry = std::nullopt,
                               const Provenance& from = {});
  // Marks a (not running) actor failed and tells its parent, whose supervision decides.
  void report_failed(const std::string& id, const Failure& failure);
  // Supervision across nodes. A proxy stands here for a child that `home` runs (Actor::home).
  std::shared_ptr<Actor> add_proxy(const std::string& id, const Manifest& manifest,
                                   const std::string& parent, const std::string& home);
  void proxy_started(const std::string& id);  // its home node finished its init
  // A proxied child exited normally on its node: its parent here decides what follows.
  void report_exited(const std::string& id, const Bytes& result);
  // The home side: starts an actor for a parent on another node, with the id that node chose.
  std::string spawn_with_id(const std::string& id, const Manifest& manifest,
                            std::optional<Bytes> init_state, const std::string& parent);
  // An actor that exited normally is started again by its (remote) parent's decision.
  void revive(const std::string& id);
  // Stops a local actor that another node now owns (the cluster no longer lists it as ours).
  void disown(const std::string& id);

  std::vector<ActorSummary> list() const;
  std::vector<std::string> top_level() const;

  // Lifecycle events as they happen (called on runtime threads; keep it quick).
  using Observer = std::function<void(const Event&)>;
  void observe(Observer observer);
  void record(Actor& actor, std::string type, std::string detail);
  // The runtime stopped every tree because a top-level actor escalated (reason) — or nullopt.
  std::optional<std::string> tree_stopped_reason() const;
  // Blocks until no actor has work, is starting or waits for its supervisor (or the timeout).
  bool wait_idle(std::chrono::milliseconds timeout);
  // Blocks until the tree has stopped (escalation at the root) or the timeout passes.
  bool wait_tree_stopped(std::chrono::milliseconds timeout);

  // ---- durable state (src/state/runtime_durable.cpp, docs/state.md) ----
  // Brings back the tree stored in data_dir: every actor not stopped for good, same id, same
  // parent, last committed state; each tree starts top-down with theater_init reason 3 (resume).
  // Returns the top-level ids brought back (none without a data dir or a stored tree).
  std::vector<std::string> recover();
  struct UpgradeResult {
    bool ok = false;
    std::string message;  // what happened; on a rollback, why
  };
  // Hot code upgrade from a new .wasm (same manifest otherwise) or a new manifest (.toml). In the
  // actor's turn, between two messages: a fresh instance of the new module gets theater_init
  // reason 2 with the committed state, and handles the next message; same id, same mailbox,
  // children kept. If the new version cannot load or fails its init, the old module and instance
  // stay (rolled back) and message says why.
  UpgradeResult upgrade(const std::string& id, const std::filesystem::path& manifest_or_wasm);
  // Blocks until every state commit and event recorded so far is durable (no-op without store).
  void wait_durable();
  state::Store* store() { return store_.get(); }

  engine::Engine& engine() { return *engine_; }
  BlobStore& blobs() { return blobs_; }
  ManifestTable& manifests() { return manifests_; }
  Scheduler& scheduler() { return *scheduler_; }
  const RuntimeConfig& config() const { return config_; }

  // ---- used by actors and host functions ----
  std::shared_ptr<engine::Module> load_module(const Manifest& manifest);
  std::string new_actor_id(const std::string& name);
  void unregister(const std::string& id);
  Actor& root() { return *root_; }
  // Supervision, run in the parent's turn (the root's for top-level actors).
  void on_child_failed(Actor& parent, const std::string& child, const Failure& failure);
  void on_child_exited(Actor& parent, const std::string& child, const Bytes& result);
  // Stops `id` for good from inside `caller`'s turn (waits in caller's fiber).
  void stop_from(Actor& caller, const std::string& id);
  void restart_from(Actor& caller, const std::string& id);
  // Drops `id`'s instance (keeping identity and state) from inside caller's turn.
  void terminate_from(Actor& caller, const std::string& id);
  // Start a child inside the parent's turn, waiting (in the parent's fiber) for its init.
  // `static_entry`: the index of the parent's [[children]] entry it is started for.
  std::string spawn_from(Actor& parent, const Manifest& manifest, std::optional<Bytes> init_state,
                         std::optional<size_t> static_entry = std::nullopt);

  // Delivers a system message to target and waits until it is handled: in caller's fiber when
  // called from an actor's turn (caller non-null), else by blocking this outside thread.
  void system_and_wait(Actor* caller, Actor& target, SystemMessage message);

  // Monitors: watcher is told (Down) when target stops.
  int32_t monitor(const std::string& watcher, const std::string& target);
  int32_t demonitor(const std::string& watcher, const std::string& target);
  // The reason is made only if someone watches (most actors stop unwatched).
  void notify_down(const std::string& target, const std::function<std::string()>& reason_json);
  void drop_monitors_of(const std::string& watcher);  // a watcher that stopped watches nothing

  // Channels between two actors.
  struct Channel {
    std::string id, opener, target;
    bool open = false;
  };
  std::string new_channel(const std::string& opener, const std::string& target);
  // Registers a channel that an actor on another node opened to one of ours.
  void add_channel(const Channel& channel);
  std::optional<Channel> channel(const std::string& id) const;
  void set_channel_open(const std::string& id, bool open);
  void close_channels_of(const std::string& actor);

  // Senders that wait for an actor's mailbox to drain (Actor::after_send). The receiver wakes
  // them at the end of a turn once its backlog is low, and when it stops; each waiter also has
  // a timer of its own, so a missed wake costs time, never a hang.
  void add_drain_waiter(Actor& receiver, const Actor* sender, std::function<void()> wake);
  void remove_drain_waiter(Actor& receiver, const Actor* sender);
  size_t wake_drain_waiters(Actor& receiver);  // how many it woke

 private:
  // The actor `to` names on this node (the cache's when that is current; else looked up, with
  // `keep` holding it), or null. It may be the root or a proxy (no module).
  Actor* local_target(std::string_view to, SendTarget* cache, std::shared_ptr<Actor>& keep);
  // A message for no local actor with wasm (`actor`: local_target's): to the cluster or ENOTFOUND.
  int32_t deliver_elsewhere(std::string_view to, Actor* actor, Message&& message);
  std::shared_ptr<Actor> create_actor(const Manifest& manifest, std::optional<Bytes> init_state,
                                      const std::string& parent,
                                      std::optional<size_t> static_entry = std::nullopt,
                                      std::string id = "");
  void add_actor(const std::shared_ptr<Actor>& actor, std::optional<size_t> static_entry = std::nullopt);
  // Sets id's status, records `event` and sends `news` (ChildFailed / ChildExited) to its parent.
  void report_to_parent(const std::string& id, ActorStatus status, const char* event,
                        const std::string& detail, SystemMessage news);
  void stop_tree(const std::string& reason);
  void apply_decision(Actor& parent, Actor& child, supervision::Decision decision,
                      const std::string& why);
  void restart_scope(Actor& parent, const std::string& child_id);
  void escalate(Actor& parent, const std::string& why);
  bool in_parents_turn(const std::string& id, void (Runtime::*step)(Actor& parent, const std::string& id));
  Bytes initial_state(const Manifest& manifest, std::optional<Bytes> init_state);
  std::string spawn_under(const std::string& parent_id, const Manifest& manifest, std::optional<Bytes> init_state);
  // Durable-state hooks (runtime_durable.cpp): a new actor's row, journal and "created" event
  // (for an adopted one, after the "continued" event that links to its chain elsewhere).
  void persist_created(Actor& actor, const Provenance* adopted = nullptr);
  UpgradeResult upgrade_in_turn(Actor& actor, const Manifest& next, std::shared_ptr<engine::Module> module);
  std::shared_ptr<engine::Module> load_module_bytes(std::span<const uint8_t> bytes, const Manifest& manifest,
                                                    const std::string& label);

  RuntimeConfig config_;
  ManifestTable manifests_;  // before every actor, after none: actors point into it
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<Scheduler> scheduler_;
  BlobStore blobs_;
  std::unique_ptr<state::Store> store_;  // with a data_dir
  std::shared_ptr<Actor> root_;

  std::shared_ptr<RemoteNodes> remote_;  // set once, before actors exist
  std::string channel_prefix_ = "ch-";
  std::string node_;  // this node's name in a cluster

  mutable std::shared_mutex registry_mutex_;
  // Hashed (every send looks its target up; ids share their name prefix, which makes ordered
  // comparisons slow), and found by string_view.
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  // Keyed by a view of the actor's own id (one copy of each id fewer: a million hibernated
  // actors are mostly ids); so an entry is only ever replaced by erase + emplace.
  std::unordered_map<std::string_view, std::shared_ptr<Actor>, IdHash> actors_;
  std::atomic<uint64_t> registry_generation_{1};  // bumped on every change of actors_ (SendTarget)
  bool put_actor(const std::shared_ptr<Actor>& actor);  // [registry_mutex_ held]; true if it replaced one

  std::mutex modules_mutex_;
  std::map<std::string, std::shared_ptr<engine::Module>> modules_;  // by path or sha256 ref
  ModuleFileCache module_files_;  // components given as paths

  mutable std::mutex observers_mutex_;
  std::vector<Observer> observers_;

  mutable std::mutex monitors_mutex_;
  MonitorTable monitors_;

  mutable std::mutex channels_mutex_;
  std::map<std::string, Channel> channels_;

  std::mutex drain_mutex_;
  std::unordered_map<const Actor*, std::vector<std::pair<const Actor*, std::function<void()>>>> drain_waiters_;

  mutable std::mutex tree_mutex_;
  std::condition_variable tree_cv_;
  std::optional<std::string> tree_stopped_;
  bool shut_down_ = false;
};

}  // namespace theater
