// The Runtime's durable side (declared in actor/runtime.hpp, described in docs/state.md): each
// new actor's row and journal, recovery of a stored tree, and hot code upgrade. Kept here, beside
// the store, so that runtime.cpp only calls in at its hook points.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "abi/abi.hpp"
#include "actor/runtime.hpp"
#include "state/manifest_json.hpp"

namespace theater {

namespace {
std::string module_ref(const engine::Module& m) { return "sha256:" + m.info().sha256; }
}  // namespace

void Runtime::persist_created(Actor& actor, const Provenance* adopted) {
  state::ActorRecord row;
  row.id = actor.id;
  row.name = actor.manifest().name;
  row.parent = actor.parent;
  row.manifest = state::manifest_to_json(actor.manifest());
  row.module = module_ref(*actor.module);
  row.state = actor.committed_state();
  auto& journal = store_->journal(actor.id, actor.manifest().store_payloads, config_.chain);
  if (adopted && adopted->chain_head) journal.continue_from(*adopted->chain_head, adopted->from_node);
  journal.created(row, row.state);
  store_->put_actor(std::move(row));
  actor.io_ = &journal;
}

std::vector<std::string> Runtime::recover() {
  if (!store_) return {};
  std::vector<std::shared_ptr<Actor>> top;
  for (auto& row : store_->actors(false)) {
    if (find(row.id)) continue;  // already running in this runtime
    // Rows come in creation order, so a parent is back before its children.
    auto parent = row.parent.empty() ? root_ : find(row.parent);
    if (!parent) {
      spdlog::warn("store: {} is not brought back: its parent {} is gone", row.id, row.parent);
      continue;
    }
    Manifest manifest = state::manifest_from_json(row.manifest);
    // The module it ran, from the blob store: the file may have changed or be gone since.
    manifest.component = row.module;
    manifest.component_path.clear();
    auto module = load_module(manifest);
    auto actor = std::make_shared<Actor>(*this, row.id, manifest, row.parent, std::move(module), row.state);
    actor->restarts_.store(row.restarts);
    auto& journal = store_->journal(row.id, manifest.store_payloads, config_.chain);
    journal.note("recovered", fmt::format("{} state bytes", row.state.size()));
    actor->io_ = &journal;
    {
      std::unique_lock lock(registry_mutex_);
      put_actor(actor);
    }
    parent->add_child(actor);
    if (row.parent.empty()) top.push_back(actor);
  }
  // Each tree resumes top-down: a parent's init, then its children's (Actor::start_children).
  std::vector<std::string> ids;
  for (auto& actor : top) {
    SystemMessage m{SystemMessage::Init};
    m.reason = abi::kResume;
    system_and_wait(nullptr, *actor, std::move(m));
    ids.push_back(actor->id);
  }
  return ids;
}

void Runtime::wait_durable() {
  if (store_) store_->flush();
}

Runtime::UpgradeResult Runtime::upgrade(const std::string& id, const std::filesystem::path& manifest_or_wasm) {
  auto actor = find(id);
  if (!actor || !actor->module) return {false, fmt::format("no actor {}", id)};
  Manifest next;
  std::shared_ptr<engine::Module> module;
  try {
    if (manifest_or_wasm.extension() == ".toml") {
      next = load_manifest(manifest_or_wasm);
    } else {
      next = actor->manifest();
      next.component = manifest_or_wasm.string();
      next.component_path = std::filesystem::absolute(manifest_or_wasm).lexically_normal();
    }
    module_files_.forget(next.component_path);  // the file as it is now, not as cached
    module = load_module(next);
  } catch (const std::exception& e) {
    return {false, fmt::format("the new version cannot be loaded: {}", e.what())};
  }
  UpgradeResult result;
  SystemMessage m{SystemMessage::Run};
  m.fn = [&] { result = upgrade_in_turn(*actor, next, module); };
  system_and_wait(nullptr, *actor, std::move(m));
  return result;
}

// In the actor's own turn, between two messages.
Runtime::UpgradeResult Runtime::upgrade_in_turn(Actor& actor, const Manifest& next,
                                                std::shared_ptr<engine::Module> module) {
  if (actor.status() != ActorStatus::Running) {
    return {false, fmt::format("{} is {}, not running", actor.id, to_string(actor.status()))};
  }
  auto* journal = dynamic_cast<state::Journal*>(actor.io_);
  const std::string from = module_ref(*actor.module), to = module_ref(*module);
  const std::string next_json = state::manifest_to_json(next);
  if (journal) journal->upgrade(from, to, next_json);
  // The old version stands aside, instance and all, until the new one has passed its init.
  const Manifest& old_manifest = actor.manifest();  // the table keeps it
  auto old_module = actor.module;
  auto old_instance = std::move(actor.instance_);
  actor.set_manifest(next);
  actor.module = std::move(module);
  std::optional<Failure> failure;
  actor.trial_failure_ = &failure;
  const bool ok = actor.ensure_instance(abi::kUpgrade);
  actor.trial_failure_ = nullptr;
  if (ok && !failure && actor.status() == ActorStatus::Running) {
    if (store_) store_->set_module(actor.id, to, next_json);
    record(actor, "upgraded", fmt::format("{} -> {}", from.substr(0, 19), to.substr(0, 19)));
    return {true, fmt::format("{} now runs {}", actor.id, to)};
  }
  const std::string why = failure ? fmt::format("the new version failed its init ({}: {})", failure->kind, failure->message)
                                  : std::string("the new version did not start");
  actor.drop_instance();
  actor.set_manifest(old_manifest);
  actor.module = std::move(old_module);
  actor.instance_ = std::move(old_instance);
  if (journal) journal->rollback(why);
  record(actor, "upgrade-failed", why + "; rolled back to " + from.substr(0, 19));
  return {false, why + "; rolled back to the old version"};
}

}  // namespace theater
