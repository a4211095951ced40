#include "cluster/cluster.hpp"

#include <algorithm>
#include <filesystem>
#include <future>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "abi/abi.hpp"
#include "actor/runtime.hpp"
#include "cluster/wire.hpp"

namespace theater::cluster {

namespace {

using Clock = std::chrono::steady_clock;

WireKind wire_kind(MessageKind k) {
  switch (k) {
    case MessageKind::Request: return WireKind::Request;
    case MessageKind::ChannelOpen: return WireKind::ChannelOpen;
    case MessageKind::ChannelMessage: return WireKind::ChannelMessage;
    case MessageKind::ChannelClose: return WireKind::ChannelClose;
    default: return WireKind::Send;
  }
}

std::optional<MessageKind> message_kind(WireKind k) {
  switch (k) {
    case WireKind::Send: return MessageKind::Send;
    case WireKind::Request: return MessageKind::Request;
    case WireKind::ChannelOpen: return MessageKind::ChannelOpen;
    case WireKind::ChannelMessage: return MessageKind::ChannelMessage;
    case WireKind::ChannelClose: return MessageKind::ChannelClose;
    default: return std::nullopt;
  }
}

std::string entry_json(const DirectoryEntry& e) {
  nlohmann::json j{{"node", e.node},         {"parent", e.parent},   {"name", e.name},
                   {"manifest", e.manifest}, {"restart", e.restart}, {"seq", e.seq}};
  if (e.entry) j["entry"] = *e.entry;
  return j.dump();
}

std::optional<DirectoryEntry> parse_entry(const KvEntry& kv) {
  auto j = nlohmann::json::parse(kv.value, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  DirectoryEntry e;
  e.id = kv.key;
  e.node = j.value("node", "");
  e.parent = j.value("parent", "");
  e.name = j.value("name", "");
  e.manifest = j.value("manifest", "");
  e.restart = j.value("restart", "");
  e.seq = j.value("seq", uint64_t{0});
  if (auto it = j.find("entry"); it != j.end() && it->is_number_unsigned()) e.entry = it->get<size_t>();
  e.revision = kv.revision;
  return e;
}

// The actor messages sent to other nodes during the current actor turn on this thread, per
// node: published as one NATS message each when the turn ends (Cluster::turn_ended).
struct GatheredSends {
  struct ForNode {
    std::string node;
    std::string single;  // the first message, as it is
    std::string batch;   // from the second on: all of them, framed (wire.hpp)
    size_t bytes() const { return single.size() + batch.size(); }
  };
  Cluster* owner = nullptr;  // the Cluster they are for
  std::vector<ForNode> nodes;
};
thread_local GatheredSends t_gathered;
// A batch is published once it holds this much (a NATS message may hold 1 MiB by default).
constexpr size_t kBatchBytes = 64 * 1024;

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

bool valid_node_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// ---- joining and leaving ---------------------------------------------------------------------

ClusterView Cluster::observe(const std::string& nats_url, const std::string& cluster_name,
                             std::chrono::milliseconds listen) {
  ConnectionOptions options;
  options.url = nats_url;
  options.name = "theater-observer";
  NatsConnection conn(options);
  std::mutex mutex;
  ClusterView view;
  std::map<std::string, NodeInfo> heard;
  conn.subscribe(fmt::format("theater.{}.hb", cluster_name), [&](std::string_view, std::string_view data) {
    auto j = nlohmann::json::parse(data, nullptr, false);
    if (!j.is_object()) return;
    NodeInfo n;
    n.name = j.value("node", "");
    n.actors = j.value("actors", size_t{0});
    n.last_seen_ms = wall_ms();
    std::lock_guard lock(mutex);
    heard[n.name] = n;
  });
  {
    KvBucket directory(conn, fmt::format("theater_{}_actors", cluster_name));
    for (const auto& key : directory.keys()) {
      auto kv = directory.get(key);
      auto e = kv ? parse_entry(*kv) : std::nullopt;
      if (!e) continue;
      view.ids[e->id] = e->node;
      view.actors[e->node].push_back(*e);
    }
  }
  std::this_thread::sleep_for(listen);
  conn.close();
  std::lock_guard lock(mutex);
  for (const auto& [node, entries] : view.actors) {
    if (!heard.count(node)) heard[node] = NodeInfo{node, false, false, entries.size(), 0};
  }
  for (auto& [name, n] : heard) view.nodes.push_back(n);
  return view;
}

std::shared_ptr<Cluster> Cluster::join(Runtime& runtime, ClusterConfig config) {
  if (!valid_node_name(config.node_name)) {
    throw std::invalid_argument(fmt::format("node name '{}': use letters, digits, '_' and '-'", config.node_name));
  }
  if (!valid_node_name(config.cluster_name)) {
    throw std::invalid_argument(fmt::format("cluster name '{}': use letters, digits, '_' and '-'", config.cluster_name));
  }
  auto cluster = std::shared_ptr<Cluster>(new Cluster(runtime, std::move(config)));
  cluster->start();
  runtime.attach_remote(cluster, cluster->config_.node_name);
  // Entries that name this node but that it does not host are from its previous run (it was
  // killed and started again before anyone noticed): they come back here.
  cluster->post([raw = cluster.get()] { raw->adopt_trees(raw->config_.node_name, true); });
  return cluster;
}

Cluster::Cluster(Runtime& runtime, ClusterConfig config)
    : runtime_(&runtime), config_(std::move(config)), prefix_("theater." + config_.cluster_name) {
  msg_subject_ = node_subject(config_.node_name, "msg");
  reply_subject_ = node_subject(config_.node_name, "reply");
  hb_subject_ = prefix_ + ".hb";
}

std::string Cluster::node_subject(const std::string& node, const char* what) const {
  return fmt::format("{}.node.{}.{}", prefix_, node, what);
}

void Cluster::start() {
  ConnectionOptions options;
  options.url = config_.nats_url;
  options.name = "theater-" + config_.node_name;
  options.send_asap = config_.send_asap;
  conn_ = std::make_unique<NatsConnection>(options);
  options.send_asap = true;
  reply_conn_ = std::make_unique<NatsConnection>(options);
  kv_conn_ = std::make_unique<NatsConnection>(options);
  directory_ = std::make_unique<KvBucket>(*kv_conn_, fmt::format("theater_{}_actors", config_.cluster_name));
  states_ = std::make_unique<KvBucket>(*kv_conn_, fmt::format("theater_{}_state", config_.cluster_name));

  // The directory's mirror is complete before this node routes anything.
  auto caught_up = std::make_shared<std::promise<void>>();
  directory_->watch([this](const KvEntry& e) { guarded([&] { on_directory(e); }); },
                    [caught_up] { caught_up->set_value(); });
  if (caught_up->get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    throw NatsError("the cluster directory did not load within 10 s");
  }
  conn_->subscribe(msg_subject_, [this](std::string_view, std::string_view data) { guarded([&] { on_message(data); }); });
  reply_conn_->subscribe(reply_subject_, [this](std::string_view, std::string_view data) { guarded([&] { on_reply(data); }); });
  reply_conn_->subscribe(hb_subject_, [this](std::string_view, std::string_view data) { guarded([&] { on_heartbeat(data); }); });
  conn_->flush(std::chrono::seconds(5));
  reply_conn_->flush(std::chrono::seconds(5));
  control_thread_ = std::thread([this] { control_loop(); });
  writer_thread_ = std::thread([this] { state_writer_loop(); });
  heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
}

template <typename Fn>
void Cluster::guarded(Fn&& fn) {
  Attached attached(*this);
  if (!attached) return;
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::warn("cluster {}: {}", config_.node_name, e.what());
  }
}

void Cluster::detach() {
  if (detached_.exchange(true)) return;
  control_cv_.notify_all();
  state_cv_.notify_all();
  for (auto* t : {&heartbeat_thread_, &writer_thread_, &control_thread_}) {
    if (t->joinable() && t->get_id() != std::this_thread::get_id()) t->join();
  }
  // Calls already past the detached_ check finish before what they use goes.
  while (inflight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  directory_.reset();  // stops the watcher
  states_.reset();
  for (auto* c : {&conn_, &reply_conn_, &kv_conn_}) {
    if (*c) (*c)->close();
  }
  while (inflight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

Cluster::~Cluster() { detach(); }

// ---- messages --------------------------------------------------------------------------------

int32_t Cluster::deliver(const std::string& to, Message m) {
  if (m.kind == MessageKind::Timer || detached_.load()) return abi::kENOTFOUND;
  std::string node;
  {
    std::shared_lock lock(dir_mutex_);
    if (auto it = dir_.find(to); it != dir_.end()) node = it->second.node;
  }
  if (node.empty()) {
    // Not mirrored (yet): spawned a moment ago on another node, or no such actor.
    try {
      if (auto e = lookup(to)) node = e->node;
    } catch (const NatsError&) {
      return abi::kENOTFOUND;
    }
  }
  if (node == config_.node_name && adopting(to)) return abi::kESTOPPED;
  if (node.empty() || node == config_.node_name) return abi::kENOTFOUND;
  WireMessage w;
  w.kind = wire_kind(m.kind);
  w.from = std::move(m.from);
  w.to = to;
  w.channel = std::move(m.channel);
  w.bytes = std::move(m.bytes);
  return send_to(node, w, std::move(m.reply));
}

int32_t Cluster::send_to(const std::string& node, WireMessage& w, std::shared_ptr<ReplySlot> slot) {
  if (!is_alive(node)) return abi::kESTOPPED;  // its actors are being taken over
  if (slot) {
    w.request_id = next_request_.fetch_add(1);
    w.reply_to = reply_subject_;
    std::lock_guard lock(pending_mutex_);
    pending_[w.request_id] = {slot, node};
  }
  const size_t size = w.bytes.size();
  auto encoded = encode(w);
  bool sent;
  if (Scheduler::in_turn() && encoded.size() < kBatchBytes) {
    sent = gather(node, std::move(encoded));
    if (slot) sent = flush_gathered() && sent;  // the sender waits for the answer: out now
  } else {
    if (Scheduler::in_turn()) flush_gathered();  // what the turn sent before it goes first
    sent = conn_->publish(node_subject(node, "msg"), encoded);
  }
  // Buffered: a request must not wait for libnats's flusher (~1 ms); a flush writes it at once.
  if (sent && slot && !config_.send_asap) sent = conn_->flush(std::chrono::seconds(5));
  if (!sent) {
    if (slot) {
      std::lock_guard lock(pending_mutex_);
      pending_.erase(w.request_id);
    }
    return size > 1000000 ? abi::kETOOBIG : abi::kESTOPPED;
  }
  return abi::kOk;
}

bool Cluster::gather(const std::string& node, std::string encoded) {
  auto& g = t_gathered;
  if (g.owner != this && !g.nodes.empty()) g.owner->flush_gathered();
  g.owner = this;
  auto it = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const auto& n) { return n.node == node; });
  if (it == g.nodes.end()) {
    g.nodes.push_back({node, std::move(encoded), {}});
    return true;
  }
  if (!it->single.empty()) {
    append_to_batch(it->batch, it->single);
    it->single.clear();
  }
  append_to_batch(it->batch, encoded);
  return it->bytes() < kBatchBytes || flush_gathered();
}

bool Cluster::flush_gathered() {
  auto& g = t_gathered;
  if (g.owner != this || g.nodes.empty()) return true;
  auto nodes = std::move(g.nodes);
  g.nodes.clear();
  bool all = true;
  for (auto& n : nodes) {
    const auto& bytes = n.single.empty() ? n.batch : n.single;
    if (!conn_->publish(node_subject(n.node, "msg"), bytes)) {
      all = false;
      spdlog::warn("cluster {}: {} bytes of messages for node {} could not be published (connection closed)",
                   config_.node_name, bytes.size(), n.node);
    }
  }
  return all;
}

void Cluster::turn_ended() { flush_gathered(); }

std::shared_ptr<ReplySlot> Cluster::answer_slot(const std::string& reply_to, uint64_t request_id,
                                                std::function<void(int32_t)> before) {
  return std::make_shared<ReplySlot>([self = shared_from_this(), reply_to, request_id, before = std::move(before)](
                                         int rc, Bytes bytes) {
    if (self->detached_.load()) return;
    if (before) before(rc);
    WireMessage r;
    r.kind = WireKind::Reply;
    r.rc = rc;
    r.request_id = request_id;
    r.bytes = std::move(bytes);
    self->reply_conn_->publish(reply_to, encode(r));
  });
}

void Cluster::on_message(std::string_view data) {
  // The first actor these messages wake runs its turn on this thread, at the end (run_on_arrival).
  std::optional<Scheduler::RunHere> here;
  auto one = [&](std::string_view part) {
    auto w = decode(part);
    if (w && (w->kind == WireKind::Control || w->kind == WireKind::ChildFailed || w->kind == WireKind::ChildExited)) {
      here.reset();  // these may wait for actors: none is held back for this thread meanwhile
      return w->kind == WireKind::Control ? on_control(*w) : on_child_news(*w);
    }
    if (!w || !message_kind(w->kind)) {
      spdlog::warn("cluster {}: dropped a malformed message of {} bytes", config_.node_name, part.size());
      return;
    }
    if (!here && config_.run_on_arrival) here.emplace(runtime_->scheduler());
    deliver_wire(*w);
  };
  if (auto batch = split_batch(data)) {
    for (auto part : *batch) one(part);
  } else {
    one(data);
  }
}

void Cluster::deliver_wire(WireMessage& w) {
  const auto kind = message_kind(w.kind);
  Message m;
  m.kind = *kind;
  m.from = std::move(w.from);
  m.channel = w.channel;
  m.bytes = std::move(w.bytes);
  std::shared_ptr<ReplySlot> slot;
  if (w.kind == WireKind::Request) {
    slot = answer_slot(w.reply_to, w.request_id);
    m.reply = slot;
  } else if (w.kind == WireKind::ChannelOpen) {
    // Both ends' nodes know the channel; it is open here once the target accepted it.
    slot = answer_slot(w.reply_to, w.request_id,
                       [self = this, channel = w.channel](int32_t rc) { self->runtime_->set_channel_open(channel, rc == 1); });
    m.reply = slot;
    runtime_->add_channel({w.channel, m.from.str(), w.to, false});
  }
  if (w.kind == WireKind::ChannelClose) runtime_->set_channel_open(w.channel, false);
  int32_t rc = runtime_->deliver_local(w.to, std::move(m));
  if (rc == abi::kOk) return;
  if (rc == abi::kENOTFOUND && adopting(w.to)) rc = abi::kESTOPPED;
  if (slot) {
    slot->complete(rc, {});
  } else {
    spdlog::debug("cluster {}: {} for {} undeliverable: {}", config_.node_name, to_string(*kind), w.to, abi::rc_name(rc));
  }
}

void Cluster::on_reply(std::string_view data) {
  auto w = decode(data);
  if (!w || w->kind != WireKind::Reply) return;
  std::shared_ptr<ReplySlot> slot;
  {
    std::lock_guard lock(pending_mutex_);
    auto it = pending_.find(w->request_id);
    if (it == pending_.end()) return;  // answered, or the requester gave up long ago
    slot = std::move(it->second.slot);
    pending_.erase(it);
  }
  // The waiting actor goes on on this thread (the answer's last hop then wakes no worker).
  std::optional<Scheduler::RunHere> here;
  if (config_.run_on_arrival) here.emplace(runtime_->scheduler());
  slot->complete(w->rc, std::move(w->bytes));
}

// ---- supervision across nodes ----------------------------------------------------------------

std::string Cluster::place(const Placement& where) {
  if (!where.node.empty()) return where.node;
  if (where.policy == Placement::Policy::Near) return config_.node_name;
  std::vector<NodeInfo> live;
  for (auto& n : nodes()) {
    if (n.alive) live.push_back(n);
  }
  std::sort(live.begin(), live.end(), [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  if (where.policy == Placement::Policy::Spread) return live[spread_next_.fetch_add(1) % live.size()].name;
  return std::min_element(live.begin(), live.end(), [](const NodeInfo& a, const NodeInfo& b) {
           return a.actors < b.actors;
         })->name;
}

std::string Cluster::spawn(const Manifest& manifest, std::optional<Bytes> init_state, const std::string& parent,
                           const Placement& where) {
  const std::string node = place(where);
  if (node == config_.node_name) return runtime_->spawn(manifest, std::move(init_state), parent);
  // A node that joined a moment ago may not have been heard from yet: give it a heartbeat or so.
  for (auto until = Clock::now() + config_.heartbeat * config_.missed_heartbeats;;) {
    {
      std::lock_guard lock(nodes_mutex_);
      auto it = nodes_.find(node);
      if (it != nodes_.end() && it->second.info.alive) break;
    }
    if (Clock::now() > until) throw std::runtime_error(fmt::format("no live node {}", node));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (manifest.source.empty() || manifest.source == "<spawn>") {
    throw std::runtime_error("an actor placed on another node needs a manifest file that node can read");
  }
  if (!parent.empty() && (!runtime_->find(parent) || runtime_->find(parent)->is_proxy())) {
    throw std::runtime_error(fmt::format("parent {} is not an actor of this node", parent));
  }
  auto answer = std::make_shared<std::promise<std::pair<int32_t, std::string>>>();
  auto future = answer->get_future();
  start_remote(node, manifest, nullptr, std::move(init_state), parent,
               [answer](int32_t rc, std::string id_or_why) { answer->set_value({rc, std::move(id_or_why)}); });
  // start_remote answers within 60 s (its timer); waiting a little longer covers a scheduler that
  // is shutting down and fires no timers any more.
  if (future.wait_for(std::chrono::seconds(65)) != std::future_status::ready) {
    throw std::runtime_error(fmt::format("cannot start {} on node {}: {}", manifest.name, node, abi::rc_name(abi::kETIMEOUT)));
  }
  auto [rc, result] = future.get();
  if (rc != abi::kOk) {
    throw std::runtime_error(fmt::format("cannot start {} on node {}: {}", manifest.name, node,
                                         result.empty() ? abi::rc_name(rc) : result));
  }
  return result;
}

void Cluster::spawn_remote(const std::string& node, const Manifest& manifest, const std::string& text,
                           std::optional<Bytes> init, const std::string& parent,
                           std::function<void(int32_t rc, std::string id_or_why)> done) {
  start_remote(node, manifest, &text, std::move(init), parent, std::move(done));
}

// With `text`: the manifest travels as text (and the folder its relative paths resolve
// against); without: as its file's path, which the other node reads (and can adopt it from).
void Cluster::start_remote(const std::string& node, const Manifest& manifest, const std::string* text,
                           std::optional<Bytes> init, const std::string& parent,
                           std::function<void(int32_t rc, std::string id_or_why)> done) {
  const std::string id = runtime_->new_actor_id(manifest.name);
  if (!parent.empty()) runtime_->add_proxy(id, manifest, parent, node);
  WireMessage w;
  w.kind = WireKind::Control;
  w.rc = static_cast<int32_t>(Control::Spawn) | (init ? 0x100 : 0) | (text ? 0x200 : 0);
  w.from = parent;
  w.to = id;
  if (text) {
    w.channel = manifest.base_dir.string();
    w.bytes = encode_spawn_text(*text, init.value_or(Bytes()));
  } else {
    w.channel = std::filesystem::absolute(manifest.source).string();
    w.bytes = init.value_or(Bytes());
  }
  // The 60 s limit's timer, cancelled once the answer is in (it holds the slot, and the slot this
  // cluster and the caller's callback).
  auto timer = std::make_shared<std::atomic<Scheduler::TimerId>>(0);
  auto slot = std::make_shared<ReplySlot>([self = shared_from_this(), id, parent, timer,
                                           done = std::move(done)](int rc, Bytes why) {
    if (const auto t = timer->exchange(0)) self->runtime_->scheduler().cancel(t);
    if (rc != abi::kOk) {
      if (!parent.empty()) {
        if (auto p = self->runtime_->find(parent)) p->remove_child(id);
        self->runtime_->unregister(id);
      }
      done(rc, std::move(why));
      return;
    }
    if (!parent.empty()) self->runtime_->proxy_started(id);
    done(abi::kOk, id);
  });
  if (int32_t rc = send_to(node, w, slot); rc != abi::kOk) {
    slot->complete(rc, {});
    return;
  }
  timer->store(runtime_->scheduler().after(std::chrono::seconds(60), [slot] { slot->complete(abi::kETIMEOUT, {}); }));
  // Answered before the timer was stored: nothing cancelled it.
  if (slot->done()) {
    if (const auto t = timer->exchange(0)) runtime_->scheduler().cancel(t);
  }
}

std::optional<std::string> Cluster::pick_node(const Placement& where, std::string& why) {
  const std::string node = place(where);
  if (node == config_.node_name) return node;
  {
    // Only a node heard from (the caller waits in its turn: no waiting here for one that may
    // be about to join).
    std::lock_guard lock(nodes_mutex_);
    if (auto it = nodes_.find(node); it != nodes_.end() && it->second.info.alive) return node;
  }
  why = fmt::format("no live node '{}'", node);
  return std::nullopt;
}

std::pair<int32_t, Bytes> Cluster::ask(const std::string& node, WireMessage& w, std::chrono::milliseconds timeout) {
  auto answer = std::make_shared<std::promise<std::pair<int32_t, Bytes>>>();
  auto slot = std::make_shared<ReplySlot>([answer](int rc, Bytes bytes) { answer->set_value({rc, std::move(bytes)}); });
  auto future = answer->get_future();
  if (int32_t rc = send_to(node, w, slot); rc != abi::kOk) slot->complete(rc, {});
  if (future.wait_for(timeout) != std::future_status::ready) slot->complete(abi::kETIMEOUT, {});
  return future.get();
}

std::optional<std::string> Cluster::other_home(const std::string& id) {
  Attached attached(*this);
  if (!attached) return std::nullopt;
  try {
    auto home = lookup(id);
    if (home && home->node != config_.node_name) return home->node;
  } catch (const NatsError&) {
  }
  return std::nullopt;
}

std::pair<int32_t, Bytes> Cluster::ask_home(const std::string& id, Control op, std::chrono::milliseconds timeout) {
  auto node = other_home(id);
  if (!node) return {abi::kENOTFOUND, {}};  // nowhere, or here: Runtime's own business
  WireMessage w;
  w.kind = WireKind::Control;
  w.rc = static_cast<int32_t>(op);
  w.to = id;
  return ask(*node, w, timeout);
}

std::optional<std::vector<Event>> Cluster::events_of(const std::string& id) {
  auto [rc, bytes] = ask_home(id, Control::Events, std::chrono::seconds(10));
  if (rc != abi::kOk) return std::nullopt;
  const auto list = nlohmann::json::parse(bytes, nullptr, false);
  if (!list.is_array()) return std::nullopt;
  std::vector<Event> out;
  for (const auto& e : list) {
    if (!e.is_object()) continue;
    out.push_back(Event{e.value("seq", uint64_t{0}), e.value("time_ms", int64_t{0}), e.value("actor", ""),
                        e.value("name", ""), e.value("type", ""), e.value("detail", "")});
  }
  return out;
}

void Cluster::control(const std::string& node, const std::string& id, Control op, uint32_t reason,
                      std::function<void(int32_t rc)> done) {
  WireMessage w;
  w.kind = WireKind::Control;
  w.rc = static_cast<int32_t>(op);
  w.to = id;
  w.bytes = std::to_string(reason);
  auto slot = std::make_shared<ReplySlot>([done = std::move(done)](int rc, Bytes) { done(rc); });
  // A node that is gone answers nothing: as if the child failed (its take-over follows).
  if (detached_.load() || send_to(node, w, slot) != abi::kOk) slot->complete(abi::kEFAILED, {});
}

int32_t Cluster::lifecycle(const std::string& id, Control op) {
  // A stop waits for the actor's children and shutdown there (each bounded by its deadline).
  return ask_home(id, op, std::chrono::seconds(60)).first;
}

// The child's node: do what the parent's node asks, answer when it is done.
void Cluster::on_control(WireMessage& w) {
  auto answer = answer_slot(w.reply_to, w.request_id);
  const auto op = static_cast<Control>(w.rc & 0xff);
  if (op == Control::Events) {  // the actor's recent events, as a JSON array of Event::json()
    auto actor = runtime_->find(w.to);
    if (!actor || !actor->module) {
      answer->complete(abi::kENOTFOUND, {});
      return;
    }
    std::string out = "[";
    for (const auto& e : actor->event_history()) out += (out.size() > 1 ? "," : "") + e.json();
    answer->complete(abi::kOk, out + "]");
    return;
  }
  if (op == Control::StopActor || op == Control::RestartActor) {
    // As Runtime::stop/restart here (the parent's turn does it); they wait: not on this thread.
    post([this, id = w.to, op, answer] {
      const bool done = op == Control::StopActor ? runtime_->stop(id, false) : runtime_->restart(id, false);
      answer->complete(done ? abi::kOk : abi::kENOTFOUND, {});
    });
    return;
  }
  if (op == Control::Spawn) {
    // Spawning waits for the child's init: not on the subscription's thread.
    post([this, w, answer] {
      try {
        std::optional<Bytes> init;
        Manifest manifest;
        if (w.rc & 0x200) {  // manifest text, relative to the folder in `channel`
          auto [text, init_bytes] = decode_spawn_text(w.bytes);
          manifest = parse_manifest(text, w.channel, "<spawn>");
          if (w.rc & 0x100) init = std::move(init_bytes);
        } else {
          manifest = load_manifest(w.channel);
          if (w.rc & 0x100) init = w.bytes;
        }
        runtime_->spawn_with_id(w.to, manifest, init, w.from);
        answer->complete(abi::kOk, {});
      } catch (const std::exception& e) {
        answer->complete(abi::kEINVAL, e.what());
      }
    });
    return;
  }
  auto actor = runtime_->find(w.to);
  if (!actor || actor->is_proxy()) {
    answer->complete(abi::kENOTFOUND, {});
    return;
  }
  SystemMessage m{SystemMessage::Run};
  switch (op) {
    case Control::Init:
      runtime_->revive(w.to);  // if it had exited: its parent restarts it
      m = SystemMessage{SystemMessage::Init};
      m.reason = static_cast<uint32_t>(std::strtoul(w.bytes.c_str(), nullptr, 10));
      m.done = [actor, answer] {
        answer->complete(actor->status() == ActorStatus::Running ? abi::kOk : abi::kEFAILED, {});
      };
      break;
    case Control::Terminate:
      m = SystemMessage{SystemMessage::Terminate};
      m.done = [answer] { answer->complete(abi::kOk, {}); };
      break;
    case Control::Stop:
      m = SystemMessage{SystemMessage::Stop};
      m.done = [rt = runtime_, id = w.to, answer] {
        rt->unregister(id);  // stopped for good: gone from the directory too
        answer->complete(abi::kOk, {});
      };
      break;
    case Control::Forget:
      if (actor->status() == ActorStatus::Stopped) runtime_->unregister(w.to);
      answer->complete(abi::kOk, {});
      return;
    default:
      answer->complete(abi::kEINVAL, {});
      return;
  }
  actor->deliver_system(std::move(m));
}

void Cluster::child_failed(const std::string& parent, const std::string& child, const std::string& kind,
                           const std::string& message) {
  WireMessage w;
  w.kind = WireKind::ChildFailed;
  w.from = child;
  w.to = parent;
  w.bytes = nlohmann::json{{"kind", kind}, {"message", message}}.dump();
  auto home = lookup(parent);
  if (!home || send_to(home->node, w, nullptr) != abi::kOk) {
    spdlog::warn("cluster {}: the parent {} of {} is unreachable: its failure is not reported", config_.node_name, parent, child);
  }
}

void Cluster::child_exited(const std::string& parent, const std::string& child, const Bytes& result) {
  WireMessage w;
  w.kind = WireKind::ChildExited;
  w.from = child;
  w.to = parent;
  w.bytes = result;
  auto home = lookup(parent);
  if (home) send_to(home->node, w, nullptr);
}

// The parent's node: the news about a proxied child goes to its parent as for a local child.
void Cluster::on_child_news(WireMessage& w) {
  auto proxy = runtime_->find(w.from);
  if (!proxy || !proxy->is_proxy() || proxy->parent != w.to) return;
  if (w.kind == WireKind::ChildExited) {
    runtime_->report_exited(w.from, w.bytes);
    return;
  }
  auto j = nlohmann::json::parse(w.bytes, nullptr, false);
  runtime_->report_failed(w.from, {j.is_object() ? j.value("kind", "error") : "error",
                                   j.is_object() ? j.value("message", "") : w.bytes});
}

// ---- directory -------------------------------------------------------------------------------

std::optional<DirectoryEntry> Cluster::lookup(const std::string& id) {
  {
    std::shared_lock lock(dir_mutex_);
    if (auto it = dir_.find(id); it != dir_.end()) return it->second;
  }
  Attached attached(*this);
  if (!attached) return std::nullopt;  // left the cluster: the bucket is gone, the mirror is all we know
  auto kv = directory_->get(id);
  if (!kv) return std::nullopt;
  auto e = parse_entry(*kv);
  if (!e) return std::nullopt;
  std::unique_lock lock(dir_mutex_);
  auto& slot = dir_[id];
  if (slot.revision < e->revision) slot = *e;
  return slot;
}

void Cluster::on_directory(const KvEntry& kv) {
  if (kv.deleted) {
    std::unique_lock lock(dir_mutex_);
    if (auto it = dir_.find(kv.key); it != dir_.end() && it->second.revision <= kv.revision) dir_.erase(it);
    return;
  }
  auto e = parse_entry(kv);
  if (!e) return;
  {
    std::unique_lock lock(dir_mutex_);
    auto& slot = dir_[kv.key];
    if (slot.revision > e->revision) return;  // our own newer write is already mirrored
    slot = *e;
  }
  // Someone else owns it now (this node was declared down and its actors were taken over).
  auto here = runtime_->find(kv.key);
  if (e->node != config_.node_name && here && !here->is_proxy()) fence(kv.key);
}

void Cluster::registered(Actor& actor, std::optional<size_t> static_entry) {
  Attached attached(*this);
  if (!attached) throw std::runtime_error(fmt::format("cannot place {}: this node has left the cluster", actor.id));
  DirectoryEntry e;
  e.id = actor.id;
  e.node = config_.node_name;
  e.parent = actor.parent;
  e.name = actor.manifest().name;
  if (actor.manifest().source != "<spawn>" && !actor.manifest().source.empty()) {
    e.manifest = std::filesystem::absolute(actor.manifest().source).string();
  }
  e.restart = to_string(actor.manifest().restart);
  e.seq = now_ns();
  e.entry = static_entry;
  auto rev = directory_->update(actor.id, entry_json(e), 0);
  if (!rev) throw std::runtime_error(fmt::format("actor id {} is taken in the cluster", actor.id));
  e.revision = *rev;
  {
    std::unique_lock lock(dir_mutex_);
    auto& slot = dir_[actor.id];
    if (slot.revision < e.revision) slot = e;
  }
  const uint64_t state_rev = states_->put(actor.id, encode(ReplicatedState{actor.committed_state(), {}}));
  std::lock_guard lock(state_mutex_);
  state_rev_[actor.id] = state_rev;
}

void Cluster::unregistered(const std::string& id) {
  {
    std::lock_guard lock(state_mutex_);
    state_rev_.erase(id);
    dirty_.erase(id);
    if (disowned_.erase(id)) return;  // it lives on elsewhere: its entries are not ours to remove
  }
  {
    std::unique_lock lock(dir_mutex_);
    auto it = dir_.find(id);
    if (it != dir_.end() && it->second.node != config_.node_name) return;
    if (it != dir_.end()) dir_.erase(it);
  }
  Attached attached(*this);
  if (!attached) return;  // left the cluster: its entries are the other nodes' business now
  try {
    directory_->erase(id);
    states_->erase(id);
  } catch (const NatsError& e) {
    spdlog::warn("cluster {}: cannot remove {} from the directory: {}", config_.node_name, id, e.what());
  }
}

std::vector<DirectoryEntry> Cluster::directory() const {
  std::vector<DirectoryEntry> out;
  {
    std::shared_lock lock(dir_mutex_);
    out.reserve(dir_.size());
    for (const auto& [id, e] : dir_) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::map<std::string, std::vector<std::string>> Cluster::placement() const {
  std::map<std::string, std::vector<std::string>> out;
  std::shared_lock lock(dir_mutex_);
  for (const auto& [id, e] : dir_) out[e.node].push_back(id);
  for (auto& [node, ids] : out) std::sort(ids.begin(), ids.end());
  return out;
}

// ---- state replication -----------------------------------------------------------------------

bool Cluster::committed(Actor& actor, const Bytes& state, uint64_t chain_token) {
  if (config_.durability == Durability::Sync) {
    auto head = chain_token ? actor.io()->commit_head(chain_token) : std::nullopt;
    return write_state(actor.id, encode(ReplicatedState{state, head}));
  }
  std::lock_guard lock(state_mutex_);
  if (disowned_.count(actor.id)) return false;
  dirty_[actor.id] = Dirty{state, chain_token, actor.io()};
  state_cv_.notify_all();
  return true;
}

bool Cluster::write_state(const std::string& id, const Bytes& value) {
  for (int attempt = 0; !detached_.load(); ++attempt) {
    uint64_t last = 0;
    {
      std::lock_guard lock(state_mutex_);
      if (disowned_.count(id)) return false;
      auto it = state_rev_.find(id);
      if (it == state_rev_.end()) return true;  // stopped meanwhile: nothing to keep
      last = it->second;
    }
    try {
      auto rev = states_->update(id, value, last);
      if (!rev) {
        fence(id);
        return false;
      }
      std::lock_guard lock(state_mutex_);
      if (auto it = state_rev_.find(id); it != state_rev_.end()) it->second = *rev;
      return true;
    } catch (const NatsError& e) {
      // NATS is away (restarting?): the write waits for it, it is not dropped.
      if (attempt % 50 == 0) spdlog::warn("cluster {}: replicating {}: {} (retrying)", config_.node_name, id, e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return true;
}

void Cluster::state_writer_loop() {
  while (!detached_.load()) {
    std::map<std::string, Dirty> batch;
    {
      std::unique_lock lock(state_mutex_);
      state_cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return !dirty_.empty() || detached_.load(); });
      batch.swap(dirty_);
      writing_ = batch.size();
    }
    for (auto& [id, d] : batch) {
      std::optional<state::ChainHead> head;
      if (d.chain_token) {
        head = d.io->commit_head(d.chain_token);
        // A later commit took its place in the journal: it is in dirty_ (or on its way), with
        // its own head; this state without one would not be what the chain says.
        if (!head) continue;
      }
      write_state(id, encode(ReplicatedState{std::move(d.state), head}));
    }
    {
      std::lock_guard lock(state_mutex_);
      writing_ = 0;
    }
    state_cv_.notify_all();
  }
}

bool Cluster::flush_state(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_mutex_);
  return state_cv_.wait_for(lock, timeout, [&] { return dirty_.empty() && writing_ == 0; });
}

void Cluster::fence(const std::string& id) {
  post([this, id] {
    auto actor = runtime_->find(id);
    if (!actor) return;
    // The whole local subtree goes: the new owner took the tree over with it.
    std::vector<std::string> tree{id};
    for (size_t i = 0; i < tree.size(); ++i) {
      if (auto a = runtime_->find(tree[i])) {
        for (const auto& kid : a->children()) tree.push_back(kid);
      }
    }
    {
      std::lock_guard lock(state_mutex_);
      for (const auto& t : tree) disowned_.insert(t);
    }
    spdlog::warn("cluster {}: {} is owned by another node now: dropping our copy", config_.node_name, id);
    runtime_->disown(id);
  });
}

// ---- heartbeats and failure ------------------------------------------------------------------

void Cluster::post(std::function<void()> task) {
  {
    std::lock_guard lock(control_mutex_);
    control_.push_back(std::move(task));
  }
  control_cv_.notify_all();
}

void Cluster::control_loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(control_mutex_);
      control_cv_.wait(lock, [&] { return detached_.load() || !control_.empty(); });
      if (detached_.load()) return;
      task = std::move(control_.front());
      control_.pop_front();
    }
    guarded(task);
  }
}

bool Cluster::is_alive(const std::string& node) const {
  if (node == config_.node_name) return true;
  std::lock_guard lock(nodes_mutex_);
  auto it = nodes_.find(node);
  return it == nodes_.end() || it->second.info.alive;
}

std::vector<NodeInfo> Cluster::nodes() const {
  std::vector<NodeInfo> out;
  NodeInfo self;
  self.name = config_.node_name;
  self.self = true;
  self.last_seen_ms = wall_ms();
  {
    std::shared_lock lock(dir_mutex_);
    for (const auto& [id, e] : dir_) self.actors += e.node == config_.node_name;
  }
  out.push_back(self);
  std::lock_guard lock(nodes_mutex_);
  for (const auto& [name, n] : nodes_) out.push_back(n.info);
  return out;
}

void Cluster::on_heartbeat(std::string_view data) {
  auto j = nlohmann::json::parse(data, nullptr, false);
  if (!j.is_object()) return;
  const std::string name = j.value("node", "");
  if (name.empty() || name == config_.node_name) return;
  std::lock_guard lock(nodes_mutex_);
  auto& n = nodes_[name];
  if (!n.info.alive) spdlog::warn("cluster {}: node {} is back (its actors live elsewhere now)", config_.node_name, name);
  n.last_seen = Clock::now();
  n.info.name = name;
  n.info.alive = true;
  n.info.actors = j.value("actors", size_t{0});
  n.info.last_seen_ms = wall_ms();
}

void Cluster::heartbeat_loop() {
  const auto limit = config_.heartbeat * config_.missed_heartbeats;
  auto last_tick = Clock::now();
  auto reconnect_grace = Clock::now();
  while (!detached_.load()) {
    for (auto slept = std::chrono::milliseconds(0); slept < config_.heartbeat && !detached_.load();
         slept += std::chrono::milliseconds(10)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const auto now = Clock::now();
    const bool paused = now - last_tick > limit;  // this process did not run (SIGSTOP, a stall)
    last_tick = now;
    // While NATS is away, and for a while after it is back (the others reconnect too, each in
    // its own time), silence proves nothing.
    if (!reply_conn_->connected() || !conn_->connected()) reconnect_grace = now + limit * 2;
    const bool cut_off = now < reconnect_grace;
    size_t mine = 0;
    std::set<std::string> named;
    {
      std::shared_lock lock(dir_mutex_);
      for (const auto& [id, e] : dir_) {
        mine += e.node == config_.node_name;
        named.insert(e.node);
      }
    }
    reply_conn_->publish(hb_subject_, nlohmann::json{{"node", config_.node_name}, {"actors", mine}}.dump());
    std::vector<std::string> down, still_down;
    {
      std::lock_guard lock(nodes_mutex_);
      // Nodes the directory names but that never spoke: judged from now on like the others.
      for (const auto& node : named) {
        if (node != config_.node_name && !nodes_.count(node)) {
          auto& n = nodes_[node];
          n.last_seen = now;
          n.info.name = node;
        }
      }
      for (auto& [name, n] : nodes_) {
        // After a pause of our own, or while NATS is away, silence proves nothing.
        if (paused || cut_off) {
          n.last_seen = now;
          continue;
        }
        if (n.info.alive && now - n.last_seen > limit) {
          n.info.alive = false;
          n.down_since = now;
          down.push_back(name);
        } else if (!n.info.alive && now - n.down_since > limit) {
          still_down.push_back(name);
          n.down_since = now;
        }
      }
    }
    // After a pause of our own, others may have taken our actors: ask the directory, not only
    // the watcher (whose news may be late).
    if (paused) post([this] { verify_ownership(); });
    for (const auto& node : down) post([this, node] { node_down(node); });
    // Trees that the node chosen for them did not take (it died too, or saw things otherwise).
    for (const auto& node : still_down) post([this, node] { adopt_trees(node, true); });
    {
      std::lock_guard lock(pending_mutex_);
      std::erase_if(pending_, [](const auto& p) { return p.second.slot->done(); });
    }
  }
}

void Cluster::verify_ownership() {
  std::vector<std::string> mine;
  {
    std::shared_lock lock(dir_mutex_);
    for (const auto& [id, e] : dir_) {
      if (e.node == config_.node_name) mine.push_back(id);
    }
  }
  for (const auto& id : mine) {
    auto kv = directory_->get(id);
    auto e = kv ? parse_entry(*kv) : std::nullopt;
    auto here = runtime_->find(id);
    if (here && !here->is_proxy() && (!e || e->node != config_.node_name)) fence(id);
  }
}

void Cluster::node_down(const std::string& node) {
  spdlog::warn("cluster {}: node {} is down (no heartbeat for {} ms)", config_.node_name, node,
               (config_.heartbeat * config_.missed_heartbeats).count());
  // Answers it will never send: as when a local actor fails while handling a request.
  std::vector<std::shared_ptr<ReplySlot>> lost;
  {
    std::lock_guard lock(pending_mutex_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.node == node) {
        lost.push_back(std::move(it->second.slot));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& slot : lost) slot->complete(abi::kEFAILED, {});
  adopt_trees(node, false);
}

// Takes over the actors that `dead` hosted, a tree at a time: the top of each tree (its parent
// lives elsewhere, or it had none) is claimed by one live node, which recreates the whole tree
// with the replicated states and reports the top as failed with kind "node-down" to its parent
// (the parent's node) or to its own runtime (top-level actors). With `all`, this node takes
// every tree that is still left (the one chosen for it did not).
void Cluster::adopt_trees(const std::string& dead, bool all) {
  std::vector<std::pair<std::string, DirectoryEntry>> lost;
  std::unordered_map<std::string, DirectoryEntry> where;  // parent -> entry, for the tops
  {
    std::shared_lock lock(dir_mutex_);
    for (const auto& [id, e] : dir_) {
      auto here = runtime_->find(id);  // nothing, or the proxy of a child of ours
      if (e.node == dead && (!here || here->is_proxy())) lost.emplace_back(id, e);
    }
    for (const auto& [id, e] : lost) {
      if (auto it = dir_.find(e.parent); it != dir_.end()) where[e.parent] = it->second;
    }
  }
  if (lost.empty()) return;
  std::sort(lost.begin(), lost.end(), [](const auto& a, const auto& b) { return a.second.seq < b.second.seq; });
  std::set<std::string> lost_ids;
  for (const auto& [id, e] : lost) lost_ids.insert(id);
  std::vector<std::string> live{config_.node_name};
  {
    std::lock_guard lock(nodes_mutex_);
    for (const auto& [name, n] : nodes_) {
      if (n.info.alive) live.push_back(name);
    }
  }
  std::sort(live.begin(), live.end());

  for (const auto& [top, top_entry] : lost) {
    if (lost_ids.count(top_entry.parent)) continue;  // not a top: comes with its tree
    // Who supervises it from now on: its parent where that lives (that node does it), else the
    // runtime of one live node, picked by id so that the trees of a dead node spread out.
    std::string parent = top_entry.parent;
    bool mine = false;
    if (auto p = parent.empty() ? nullptr : runtime_->find(parent); p && !p->is_proxy()) {
      mine = true;
    } else if (auto it = where.find(parent); !parent.empty() && it != where.end() && is_alive(it->second.node)) {
      mine = false;
    } else {
      parent.clear();
      mine = all || live[std::hash<std::string>{}(top) % live.size()] == config_.node_name;
    }
    if (!mine) continue;
    // The tree, parents before children, in start order.
    std::vector<std::pair<std::string, DirectoryEntry>> tree{{top, top_entry}};
    for (size_t i = 0; i < tree.size(); ++i) {
      for (const auto& [id, e] : lost) {
        if (e.parent == tree[i].first) tree.emplace_back(id, e);
      }
    }
    {
      std::lock_guard lock(adopting_mutex_);
      for (const auto& [id, e] : tree) adopting_.insert(id);
    }
    bool first = true;
    for (auto& [id, e] : tree) {
      auto replicated = claim(id, e);
      if (!replicated) {
        if (first) break;  // another node won the tree
        continue;
      }
      first = false;
      try {
        auto manifest = load_manifest(e.manifest);
        // Under its old parent it takes back its [[children]] entry (so that the parent's restart
        // restarts it rather than starting a second one); the runtime has no entries.
        const bool same_parent = id != top || parent == e.parent;
        runtime_->adopt(id, manifest, std::move(replicated->state), same_parent ? e.parent : parent,
                        same_parent ? e.entry : std::nullopt, {replicated->head, dead});
      } catch (const std::exception& ex) {
        spdlog::warn("cluster {}: cannot recreate {} ({}): {}", config_.node_name, id, e.manifest, ex.what());
        unregistered(id);
      }
    }
    {
      std::lock_guard lock(adopting_mutex_);
      for (const auto& [id, e] : tree) adopting_.erase(id);
    }
    if (!first && runtime_->find(top)) {
      runtime_->report_failed(top, {"node-down", fmt::format("node {} is down", dead)});
    }
  }
}

bool Cluster::adopting(const std::string& id) const {
  std::lock_guard lock(adopting_mutex_);
  return adopting_.count(id) > 0;
}

// One revision-checked write makes `id` this node's; then the state is written back with its
// own check, so a write from the old owner (still running somewhere) now fails and it lets go.
std::optional<ReplicatedState> Cluster::claim(const std::string& id, const DirectoryEntry& entry) {
  DirectoryEntry mine = entry;
  mine.node = config_.node_name;
  auto rev = directory_->update(id, entry_json(mine), entry.revision);
  if (!rev) return std::nullopt;
  mine.revision = *rev;
  {
    std::unique_lock lock(dir_mutex_);
    auto& slot = dir_[id];
    if (slot.revision < mine.revision) slot = mine;
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto current = states_->get(id);
    const Bytes value = current ? current->value : encode(ReplicatedState{});
    auto srev = states_->update(id, value, current ? current->revision : 0);
    if (srev) {
      std::lock_guard lock(state_mutex_);
      state_rev_[id] = *srev;
      disowned_.erase(id);
      if (auto replicated = decode_state(value)) return replicated;
      // Not Theater's layout (written by something else): kept whole as the state, no chain head.
      spdlog::warn("cluster {}: the replicated state of {} is not in Theater's layout; taken as it is",
                   config_.node_name, id);
      return ReplicatedState{value, {}};
    }
  }
  return std::nullopt;
}

}  // namespace theater::cluster
