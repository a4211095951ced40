#include "state/replay.hpp"

#include <thread>

#include <fmt/format.h>

#include "abi/abi.hpp"
#include "actor/runtime.hpp"
#include "state/blob_store.hpp"
#include "state/manifest_json.hpp"
#include "state/store.hpp"

namespace theater::state {

namespace {

// Events that start something the replay must do itself (the rest are consequences of them).
bool drives(const StoredEvent& e) {
  switch (e.type) {
    case EventType::Created:
    case EventType::Init:
    case EventType::Received:
    case EventType::Call:
    case EventType::Upgrade:
    case EventType::Rollback:
      return true;
    case EventType::Stop: {
      PayloadReader r(e.payload);
      return r.str() == "stopped";  // "exited" is the consequence of a handler's exit
    }
    default:
      return false;
  }
}

bool is_note(const StoredEvent& e, std::string_view which = {}) {
  if (e.type != EventType::Note) return false;
  if (which.empty()) return true;
  PayloadReader r(e.payload);
  return r.str() == which;
}

std::string short_hash(const Hash& h) { return hex(h).substr(0, 16); }

}  // namespace

// Drives one Actor through its recording. Friend of Actor: it calls the same private steps the
// runtime does (ensure_instance, handle_message, invoke, drop_instance), on this thread.
class Replayer final : public ActorIo {
 public:
  Replayer(std::vector<StoredEvent> events, const BlobStore& blobs, const ReplayOptions& options)
      : events_(std::move(events)), blobs_(blobs), options_(options) {
    report_.events = events_.size();
  }

  ReplayReport run(const std::string& actor_id);

  // ---- ActorIo: each hook takes the next recorded event and compares ----
  bool replaying() const override { return true; }

  void init(uint32_t reason, std::string_view state, std::string_view module_sha256) override {
    const StoredEvent* e = expect(EventType::Init, fmt::format("a fresh instance (init reason {})", reason));
    if (!e) return;
    ++pos_;
    PayloadReader r(e->payload);
    const uint8_t rec_reason = r.u8();
    const std::string module = r.str();
    const Blob rec_state = r.blob();
    if (rec_reason != reason) return diverge(*e, fmt::format("recorded init reason {}, the replay {}", rec_reason, reason));
    if (module != "sha256:" + std::string(module_sha256)) {
      return diverge(*e, fmt::format("recorded module {}, the replay runs {}", module, module_sha256));
    }
    if (rec_state.hash != sha256(state)) {
      diverge(*e, fmt::format("theater_init got state sha256 {} ({} bytes) live, {} ({} bytes) in the replay",
                              short_hash(rec_state.hash), rec_state.size, short_hash(sha256(state)), state.size()));
    }
  }

  void received(const Message& m) override {
    const StoredEvent* e = expect(EventType::Received, fmt::format("a {} message", to_string(m.kind)));
    if (e) ++pos_;  // the driver built the message from this very event
  }

  void invoking(std::string_view export_name, std::span<const uint64_t>, engine::Instance&) override {
    if (export_name != calling_) return;  // only the driver's own Call events are checked here
    calling_ = {};
    if (expect(EventType::Call, std::string(export_name))) ++pos_;
  }

  uint64_t committed(std::string_view state) override {
    const StoredEvent* e = expect(EventType::Committed, fmt::format("a state commit ({} bytes)", state.size()));
    if (!e) return 0;
    ++pos_;
    const Blob rec = PayloadReader(e->payload).blob();
    ++report_.commits_checked;
    if (rec.hash != sha256(state)) {
      diverge(*e, fmt::format("recorded state sha256 {} ({} bytes), the replay committed {} ({} bytes)",
                              short_hash(rec.hash), rec.size, short_hash(sha256(state)), state.size()));
    }
    return 0;
  }

  void replied(std::string_view reply) override {
    const StoredEvent* e = expect(EventType::Replied, "a reply");
    if (!e) return;
    ++pos_;
    const Blob rec = PayloadReader(e->payload).blob();
    ++report_.replies_checked;
    if (rec.hash != sha256(reply)) {
      diverge(*e, fmt::format("recorded reply sha256 {}, the replay replied {} ('{}')", short_hash(rec.hash),
                              short_hash(sha256(reply)), reply.substr(0, 40)));
    }
  }

  void lifecycle(std::string_view type, std::string_view detail) override {
    if (type == "failed") {
      const auto kind = detail.substr(0, detail.find(": "));
      const StoredEvent* e = expect(EventType::Failure, fmt::format("a failure ({})", detail));
      if (!e) return;
      ++pos_;
      PayloadReader r(e->payload);
      const auto rec_kind = r.str();
      if (rec_kind != kind) diverge(*e, fmt::format("recorded a failure of kind {} ({}), the replay {}", rec_kind, r.str(), detail));
    } else if (type == "exited") {
      const StoredEvent* e = expect(EventType::Stop, "a normal exit");
      if (e) ++pos_;
    }
    // Notes (resumed, undeliverable, ...) are not compared.
  }

  void host(HostCall, std::string_view, std::string_view, const HostOutcome&) override {}

  std::optional<HostOutcome> replay_host(HostCall call, std::string_view key, std::string_view input) override {
    const StoredEvent* e = expect(event_type_of(call), fmt::format("host call {}", to_string(call)));
    if (!e) return std::nullopt;
    const HostRecord rec = decode_host(e->payload);
    if (rec.call != call || rec.key != key || rec.input.hash != sha256(input)) {
      diverge(*e, fmt::format("recorded {} (input sha256 {}), the replay called {} {}(input sha256 {})", summary(*e),
                              short_hash(rec.input.hash), to_string(call),
                              key.empty() ? "" : std::string(key.substr(0, 40)) + " ", short_hash(sha256(input))));
      return std::nullopt;
    }
    if (!rec.output.complete()) {
      unreplayable(*e, fmt::format("the result of {} ({} bytes) was not stored in full", to_string(call), rec.output.size));
      return std::nullopt;
    }
    ++pos_;
    ++report_.host_calls_fed;
    HostOutcome out{rec.rc, rec.output.stored};
    if (options_.perturb) options_.perturb(call, out);
    return out;
  }

 private:
  // The next recorded event of an actor's action, if it is of `type`; else the divergence.
  // Notes and restarts (informational) are skipped. `what` says what the replay did.
  const StoredEvent* expect(EventType type, const std::string& what) {
    if (stopped_ || cut_) return nullptr;
    while (pos_ < events_.size() &&
           (events_[pos_].type == EventType::Restart || (is_note(events_[pos_]) && !is_note(events_[pos_], "recovered")))) {
      ++pos_;
    }
    if (pos_ >= events_.size() || is_note(events_[pos_], "recovered")) {
      // The runtime stopped or was killed in the middle of this handler: what it did after the
      // last stored event was never durable. Nothing more to check in this action.
      cut_ = true;
      return nullptr;
    }
    const StoredEvent& e = events_[pos_];
    if (e.type != type) {
      diverge(e, fmt::format("recorded {} ({}), the replay did {}", to_string(e.type), summary(e), what));
      return nullptr;
    }
    return &e;
  }
  void diverge(const StoredEvent& e, std::string why) {
    if (stopped_) return;
    stopped_ = true;
    report_.diverged_at = e.seq;
    report_.message = fmt::format("diverged at event {} ({}): {}", e.seq, to_string(e.type), why);
    if (action_seq_) report_.message += fmt::format(" [while replaying event {}: {}]", action_seq_, action_);
  }
  void unreplayable(const StoredEvent& e, std::string why) {
    if (stopped_) return;
    stopped_ = true;
    report_.message = fmt::format("cannot replay event {} ({}): {}", e.seq, to_string(e.type), why);
  }

  // The driver's steps.
  bool setup(const std::string& actor_id);
  // Loads the module `ref` from the blob store, checked against its name, for `manifest`.
  std::shared_ptr<engine::Module> module_of(const std::string& ref, Manifest manifest);
  void step();
  bool timed_out_live(size_t from) const;
  void do_init(const StoredEvent& e);
  void do_received(const StoredEvent& e);
  void do_call(const StoredEvent& e);

  std::vector<StoredEvent> events_;
  const BlobStore& blobs_;
  ReplayOptions options_;
  ReplayReport report_;
  size_t pos_ = 0;
  bool stopped_ = false;  // diverged or cannot go on
  bool cut_ = false;      // the current action's recording ends early (a crash)
  uint64_t action_seq_ = 0;
  std::string action_;
  std::string calling_;   // the export of the Call being replayed

  std::unique_ptr<Runtime> runtime_;
  std::shared_ptr<Actor> actor_;
  // An upgrade's old version, until its trial init passes (or a rollback brings it back).
  struct Stash {
    const Manifest* manifest;  // the runtime's ManifestTable keeps it
    std::shared_ptr<engine::Module> module;
    std::unique_ptr<engine::Instance> instance;
  };
  std::optional<Stash> stash_;
  std::optional<Failure> trial_failure_;
  bool trial_ = false;
};

std::shared_ptr<engine::Module> Replayer::module_of(const std::string& ref, Manifest m) {
  auto bytes = blobs_.get(ref);
  if (!bytes) throw std::runtime_error(fmt::format("module {} is not in the blob store", ref));
  if ("sha256:" + hex(sha256(*bytes)) != ref) {
    throw std::runtime_error(fmt::format("the blob store's {} does not hash to its name: it was changed", ref));
  }
  runtime_->blobs().put(*bytes);  // where the replay's runtime looks a sha256: component up
  m.component = ref;
  m.component_path.clear();
  return runtime_->load_module(m);
}

bool Replayer::setup(const std::string& actor_id) {
  if (events_.empty() || events_[0].type != EventType::Created) {
    report_.message = "the recording does not start with a created event";
    return false;
  }
  PayloadReader r(events_[0].payload);
  const auto id = r.str(), name = r.str(), parent = r.str(), module = r.str(), manifest_json = r.str();
  const Blob initial = r.blob();
  if (id != actor_id) {
    report_.message = fmt::format("the recording is of {}, not {}", id, actor_id);
    return false;
  }
  if (!initial.complete()) {
    unreplayable(events_[0], fmt::format("the initial state ({} bytes) was not stored in full", initial.size));
    return false;
  }
  RuntimeConfig config;
  config.engine.tier = options_.tier;
  config.workers = 1;
  config.chain = false;
  runtime_ = std::make_unique<Runtime>(config);
  Manifest manifest = manifest_from_json(manifest_json);
  manifest.component = module;
  manifest.component_path.clear();
  auto code = module_of(module, manifest);
  actor_ = std::make_shared<Actor>(*runtime_, id, manifest, "<replay>", std::move(code), initial.stored);
  actor_->io_ = this;
  pos_ = 1;
  return true;
}

bool Replayer::timed_out_live(size_t from) const {
  for (size_t i = from; i < events_.size() && !drives(events_[i]); ++i) {
    if (events_[i].type == EventType::Failure && PayloadReader(events_[i].payload).str() == "timeout") return true;
  }
  return false;
}

void Replayer::do_init(const StoredEvent& e) {
  PayloadReader r(e.payload);
  const uint8_t reason = r.u8();
  actor_->drop_instance();
  actor_->status_.store(ActorStatus::Running);
  if (trial_) actor_->trial_failure_ = &trial_failure_;
  actor_->ensure_instance(reason);  // the init hook takes this event
  actor_->trial_failure_ = nullptr;
  trial_ = false;
}

void Replayer::do_received(const StoredEvent& e) {
  PayloadReader r(e.payload);
  Message m;
  m.kind = static_cast<MessageKind>(r.u8());
  m.from = r.str();
  m.channel = r.str();
  m.tag = r.i64();
  const Blob bytes = r.blob();
  if (!bytes.complete()) {
    return unreplayable(e, fmt::format("the message ({} bytes) was not stored in full", bytes.size));
  }
  m.bytes = bytes.stored;
  if (m.kind == MessageKind::Request || m.kind == MessageKind::ChannelOpen) {
    m.reply = std::make_shared<ReplySlot>([](int, Bytes) {});
  }
  if (!actor_->instance_) {
    return diverge(e, "live the actor had an instance for this message, the replay has none");
  }
  actor_->handle_message(m);
}

void Replayer::do_call(const StoredEvent& e) {
  PayloadReader r(e.payload);
  calling_ = r.str();
  const Blob a = r.blob(), b = r.blob();
  if (!a.complete() || !b.complete()) return unreplayable(e, "its arguments were not stored in full");
  if (!actor_->instance_) return diverge(e, "live the actor had an instance for this call, the replay has none");
  std::vector<uint64_t> args;
  if (calling_ != "theater_shutdown") {
    auto pa = actor_->place_bytes(a.stored);
    auto pb = pa ? actor_->place_bytes(b.stored) : std::nullopt;
    if (!pb) return;  // failed placing them: the failure hook compares
    args = {*pa, a.size, *pb, b.size};
  }
  if (!actor_->instance_->has_function(calling_)) return diverge(e, fmt::format("the module has no {}", calling_));
  actor_->invoke(calling_, args, "replay");
}

void Replayer::step() {
  const StoredEvent& e = events_[pos_];
  cut_ = false;
  if (drives(e)) {
    action_seq_ = e.seq;
    action_ = summary(e);
  }
  if (stash_ && trial_failure_ && e.type != EventType::Rollback) {
    return diverge(e, fmt::format("the new version failed its init in the replay ({}: {}), live it passed",
                                  trial_failure_->kind, trial_failure_->message));
  }
  const Bytes before = actor_->committed_state();
  switch (e.type) {
    case EventType::Init:
      do_init(e);
      break;
    case EventType::Received:
    case EventType::Call:
      if (timed_out_live(pos_ + 1)) {
        // Live, it ran past its deadline: how long a handler takes is not an input. Skip it.
        while (++pos_ < events_.size() && !drives(events_[pos_])) {
        }
        actor_->drop_instance();
        ++report_.handlers_skipped;
        return;
      }
      e.type == EventType::Received ? do_received(e) : do_call(e);
      break;
    case EventType::Upgrade: {
      PayloadReader r(e.payload);
      r.str();
      const std::string to = r.str();
      Manifest next = manifest_from_json(r.str());
      stash_ = Stash{&actor_->manifest(), actor_->module, std::move(actor_->instance_)};
      actor_->module = module_of(to, next);
      next.component = to;
      next.component_path.clear();
      actor_->set_manifest(next);
      trial_ = true;
      trial_failure_.reset();
      ++pos_;
      break;
    }
    case EventType::Rollback:
      if (!stash_) return diverge(e, "a rollback without an upgrade before it");
      if (!trial_failure_) return diverge(e, "live the new version failed its init, in the replay it passed");
      actor_->drop_instance();
      actor_->set_manifest(*stash_->manifest);
      actor_->module = std::move(stash_->module);
      actor_->instance_ = std::move(stash_->instance);
      stash_.reset();
      ++pos_;
      break;
    case EventType::Stop:
    case EventType::Failure:
      // Ended from outside a handler (stopped by its parent, escalated): the instance goes.
      actor_->drop_instance();
      ++pos_;
      break;
    case EventType::Restart:
    case EventType::Note:
      ++pos_;
      break;
    case EventType::Created:
      return diverge(e, "a second created event");
    case EventType::Continued:
      // What happened between here and this event happened on another node.
      return unreplayable(e, "the actor comes back from another node here: the events in between are in that "
                             "node's store");
    default:
      return diverge(e, fmt::format("recorded {} ({}), which the replay did not do", to_string(e.type), summary(e)));
  }
  if (cut_) {
    // The recording ends inside this action (the runtime died there): its commit never happened.
    std::lock_guard lock(actor_->mutex_);
    actor_->committed_ = before;
  }
}

ReplayReport Replayer::run(const std::string& actor_id) {
  report_.actor = actor_id;
  try {
    if (!setup(actor_id)) return report_;
    while (pos_ < events_.size() && !stopped_) {
      const size_t at = pos_;
      step();
      if (pos_ == at && !stopped_) {
        // The action did not take its own event: the hooks found something else first.
        diverge(events_[pos_], "the replay did not reach this event");
      }
    }
  } catch (const std::exception& e) {
    stopped_ = true;
    report_.message = fmt::format("cannot replay: {}", e.what());
  }
  report_.ok = !stopped_;
  actor_.reset();
  runtime_.reset();
  return report_;
}

ReplayReport replay(const Store& store, const BlobStore& blobs, const std::string& actor, const ReplayOptions& options) {
  ReplayReport report;
  // Its own thread: a fresh stack for the instance, like an actor's turn, whoever calls.
  std::thread t([&] { report = Replayer(store.events(actor), blobs, options).run(actor); });
  t.join();
  return report;
}

}  // namespace theater::state
