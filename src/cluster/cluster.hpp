#pragma once
// A Theater cluster over NATS (docs/cluster.md). Several runtimes ("nodes"), each joined with
// Cluster::join, form one actor system:
//
// - Actor ids are global. A send, request or channel to an id this node does not host goes to the
//   node that hosts it, found in the directory (a JetStream key-value bucket, id -> node, mirrored
//   in memory on every node by a watcher). The other node delivers it through the same
//   Actor::deliver; an answer comes back on this node's reply subject and completes the waiting
//   ReplySlot with the same rc as locally. Local delivery never touches NATS.
// - Per-pair order: all of a node's actor traffic leaves on one connection, and each node reads
//   its subject on one subscription, so messages from one actor to another arrive in order.
// - Ownership: the directory entry of an actor and its committed state (second bucket) are only
//   ever written with a revision check. A node that takes an actor over (after its node went
//   down) wins one revision-checked write; the old owner's next write fails and it drops its copy:
//   two nodes never both keep an actor.
// - Failure: nodes heartbeat; one silent for heartbeat * missed_heartbeats is down. A live node
//   takes over each actor tree it hosted and reports the top of each as failed with kind
//   "node-down" to the adopting node's runtime (their supervisor): permanent and transient
//   actors restart there with their last replicated state, temporary ones are gone.
//
// Subjects (C = cluster name, N = node name):
//   theater.C.node.N.msg    actor messages for N's actors (wire.hpp)
//   theater.C.node.N.reply  answers to requests and channel opens made on N
//   theater.C.hb            heartbeats (JSON: node, actors, load)
// Buckets: theater_C_actors (id -> JSON {node, parent, name, manifest, restart, seq}) and
//          theater_C_state (id -> committed state and the chain head of that commit: wire.hpp).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "actor/manifest.hpp"
#include "actor/remote.hpp"
#include "cluster/nats_transport.hpp"
#include "cluster/wire.hpp"
#include "state/io.hpp"

namespace theater {
class Runtime;
}

namespace theater::cluster {

enum class Durability {
  Async,  // the commit is replicated by a background writer (coalesced); replies do not wait
  Sync,   // a handler's reply is released only once its committed state is in JetStream
};

struct ClusterConfig {
  std::string nats_url = "nats://127.0.0.1:4222";
  std::string node_name;                 // unique in the cluster: [A-Za-z0-9_-]+
  std::string cluster_name = "theater";  // several clusters may share one NATS server
  std::chrono::milliseconds heartbeat{250};
  unsigned missed_heartbeats = 4;        // silent for heartbeat * this: the node is down
  Durability durability = Durability::Async;
  // Actor messages are written to the socket at once (lowest latency) rather than gathered by
  // libnats's flusher thread (more messages per write, ~1 ms later). Either way the messages an
  // actor sends to one node during one turn go as one NATS message.
  bool send_asap = true;
  // A message or answer from another node is handled on the NATS thread that received it (one
  // turn of its actor), instead of being handed to a worker that may be parked: one thread
  // hand-off less per hop (Scheduler::RunHere). Messages behind it on that subscription wait for
  // that turn (at most a time slice).
  bool run_on_arrival = true;
};

// A node or cluster name: [A-Za-z0-9_-]+ (it goes into NATS subjects, bucket names and paths).
bool valid_node_name(const std::string& s);

struct NodeInfo {
  std::string name;
  bool self = false;
  bool alive = true;
  size_t actors = 0;         // as its last heartbeat said (this node: now)
  int64_t last_seen_ms = 0;  // wall clock of its last heartbeat
};

// One directory entry: where an actor lives and what it takes to start it elsewhere.
struct DirectoryEntry {
  std::string id, node, parent, name, manifest, restart;
  uint64_t seq = 0;       // start order on its node (siblings restart in this order)
  std::optional<size_t> entry;  // its parent's [[children]] entry, if it was started for one
  uint64_t revision = 0;  // of the directory bucket: the ownership check
};

// Where Cluster::spawn starts an actor.
using theater::Placement;  // (src/actor/remote.hpp, with its parser)

// What an observer sees of a cluster without joining it (`theater cluster`).
struct ClusterView {
  std::vector<NodeInfo> nodes;  // heard from while listening, plus silent ones the directory names
  std::map<std::string, std::vector<DirectoryEntry>> actors;  // node -> what the directory says it hosts
  std::map<std::string, std::string> ids;                     // id -> node
};

class Cluster final : public RemoteNodes, public std::enable_shared_from_this<Cluster> {
 public:
  // Reads the directory and listens to heartbeats for `listen` (a few heartbeat periods), as an
  // observer: it is no node, hosts nothing and takes nothing over.
  static ClusterView observe(const std::string& nats_url, const std::string& cluster_name,
                             std::chrono::milliseconds listen);
  // Connects to NATS, binds the buckets, starts heartbeats and attaches itself to the runtime
  // (before any spawn). Throws NatsError with a clear message if NATS (with JetStream) is not there.
  static std::shared_ptr<Cluster> join(Runtime& runtime, ClusterConfig config);
  ~Cluster() override;

  const ClusterConfig& config() const { return config_; }
  std::vector<NodeInfo> nodes() const;
  // The directory as this node sees it: node -> the ids it hosts.
  std::map<std::string, std::vector<std::string>> placement() const;
  // Every entry of the directory as this node's mirror holds it, by id.
  std::vector<DirectoryEntry> directory() const;
  std::optional<DirectoryEntry> lookup(const std::string& id);
  // Starts an actor on the node that `where` picks, under `parent` (an actor of this node, or ""
  // for a top-level actor of that node, supervised by its runtime). A parent here supervises a
  // child on another node through a proxy, with the same semantics as a local child. Blocks
  // until the child's init has run; throws with the other node's reason if it could not start.
  std::string spawn(const Manifest& manifest, std::optional<Bytes> init_state, const std::string& parent,
                    const Placement& where);
  std::string place(const Placement& where);
  // Waits until every replicated state write so far is in JetStream (async durability).
  bool flush_state(std::chrono::milliseconds timeout);

  // ---- RemoteNodes ----
  int32_t deliver(const std::string& to, Message m) override;
  int32_t lifecycle(const std::string& id, Control op) override;
  std::optional<std::vector<Event>> events_of(const std::string& id) override;
  void registered(Actor& actor, std::optional<size_t> static_entry) override;
  void unregistered(const std::string& id) override;
  bool committed(Actor& actor, const Bytes& state, uint64_t chain_token) override;
  void detach() override;
  void turn_ended() override;
  void control(const std::string& node, const std::string& id, Control op, uint32_t reason,
               std::function<void(int32_t rc)> done) override;
  void child_failed(const std::string& parent, const std::string& child, const std::string& kind,
                    const std::string& message) override;
  void child_exited(const std::string& parent, const std::string& child, const Bytes& result) override;
  std::optional<std::string> pick_node(const Placement& where, std::string& why) override;
  void spawn_remote(const std::string& node, const Manifest& manifest, const std::string& text,
                    std::optional<Bytes> init, const std::string& parent,
                    std::function<void(int32_t rc, std::string id_or_why)> done) override;

 private:
  Cluster(Runtime& runtime, ClusterConfig config);
  void start();
  std::string node_subject(const std::string& node, const char* what) const;
  void on_message(std::string_view data);
  void on_control(WireMessage& w);
  void on_child_news(WireMessage& w);
  // Publishes `w` to `node`; with a slot, as a request whose answer completes it. An ABI rc.
  // In an actor turn, messages are gathered per node and go out as one NATS message when the
  // turn ends (a request at once, with what its turn sent before it): `gather`, `flush_gathered`.
  int32_t send_to(const std::string& node, WireMessage& w, std::shared_ptr<ReplySlot> slot);
  bool gather(const std::string& node, std::string encoded);
  bool flush_gathered();
  void deliver_wire(WireMessage& w);  // an actor message from another node, to its actor here
  // Starts an actor on another node (a Control Spawn), its manifest as a path or, with `text`,
  // as text; `done` once its init has run there (within 60 s) or it could not start.
  void start_remote(const std::string& node, const Manifest& manifest, const std::string* text,
                    std::optional<Bytes> init, const std::string& parent,
                    std::function<void(int32_t rc, std::string id_or_why)> done);
  // Sends w to node as a request and waits for the answer: {rc, bytes} (ETIMEOUT past timeout).
  std::pair<int32_t, Bytes> ask(const std::string& node, WireMessage& w, std::chrono::milliseconds timeout);
  // The node that hosts `id` if it is another live one (nullopt: here, nowhere, or detached).
  std::optional<std::string> other_home(const std::string& id);
  // `op` for `id`, asked of the node that hosts it: ENOTFOUND if no other node does.
  std::pair<int32_t, Bytes> ask_home(const std::string& id, Control op, std::chrono::milliseconds timeout);
  // A slot whose completion publishes the answer to a request that arrived from another node.
  std::shared_ptr<ReplySlot> answer_slot(const std::string& reply_to, uint64_t request_id,
                                         std::function<void(int32_t)> before = nullptr);
  void on_reply(std::string_view data);
  void on_heartbeat(std::string_view data);
  void on_directory(const KvEntry& entry);
  void heartbeat_loop();
  void state_writer_loop();
  // Writes `value` (a ReplicatedState) for `id` with the revision check; false if another node
  // owns it now.
  bool write_state(const std::string& id, const Bytes& value);
  void fence(const std::string& id);  // another node owns `id`: drop our copy (control thread)
  void node_down(const std::string& node);
  void verify_ownership();  // fences each actor of ours that the directory gives to another node
  void adopt_trees(const std::string& dead, bool all);
  // Makes `id` this node's (revision-checked) and returns its last replicated state.
  std::optional<ReplicatedState> claim(const std::string& id, const DirectoryEntry& entry);
  void post(std::function<void()> task);  // runs on the control thread, in order
  void control_loop();
  bool is_alive(const std::string& node) const;
  template <typename Fn>
  void guarded(Fn&& fn);  // runs fn unless detached, counted so detach can wait for it
  // The same for a whole scope: true while the connections and buckets stay (not detached).
  class Attached {
   public:
    explicit Attached(Cluster& c) : c_(c) {
      c_.inflight_.fetch_add(1);
      ok_ = !c_.detached_.load();
    }
    ~Attached() { c_.inflight_.fetch_sub(1); }
    explicit operator bool() const { return ok_; }

   private:
    Cluster& c_;
    bool ok_;
  };

  Runtime* runtime_;
  ClusterConfig config_;
  std::string prefix_;         // theater.<cluster>
  std::string msg_subject_, reply_subject_, hb_subject_;
  std::unique_ptr<NatsConnection> conn_;        // actor messages (buffered, one publisher: order)
  std::unique_ptr<NatsConnection> reply_conn_;  // answers and heartbeats (send-asap)
  std::unique_ptr<NatsConnection> kv_conn_;     // JetStream key-value traffic
  std::unique_ptr<KvBucket> directory_, states_;

  mutable std::shared_mutex dir_mutex_;
  std::unordered_map<std::string, DirectoryEntry> dir_;  // the directory's mirror
  std::atomic<uint64_t> next_seq_{1};

  struct Pending {
    std::shared_ptr<ReplySlot> slot;
    std::string node;
  };
  std::mutex pending_mutex_;
  std::unordered_map<uint64_t, Pending> pending_;
  std::atomic<uint64_t> next_request_{1};

  mutable std::mutex nodes_mutex_;
  struct NodeState {
    std::chrono::steady_clock::time_point last_seen;
    std::chrono::steady_clock::time_point down_since;
    NodeInfo info;
  };
  std::map<std::string, NodeState> nodes_;

  std::mutex state_mutex_;
  std::condition_variable state_cv_;
  std::unordered_map<std::string, uint64_t> state_rev_;  // our last write per actor
  struct Dirty {
    Bytes state;
    uint64_t chain_token = 0;       // its journal's token for the chain head (0: none)
    state::ActorIo* io = nullptr;   // that journal (the store outlives this cluster's threads)
  };
  std::map<std::string, Dirty> dirty_;                   // async: latest unreplicated commits
  size_t writing_ = 0;                                   // writes in progress
  std::set<std::string> disowned_;                       // ours no more: skip their cleanup

  std::mutex control_mutex_;
  std::condition_variable control_cv_;
  std::deque<std::function<void()>> control_;

  // Ids this node is taking over: claimed in the directory, not yet made here. A message to one
  // gets ESTOPPED (as while its node is known to be down), not ENOTFOUND.
  mutable std::mutex adopting_mutex_;
  std::set<std::string> adopting_;
  bool adopting(const std::string& id) const;

  std::atomic<size_t> spread_next_{0};
  std::atomic<bool> detached_{false};
  std::atomic<int> inflight_{0};
  std::thread heartbeat_thread_, writer_thread_, control_thread_;
};

}  // namespace theater::cluster
