#pragma once
// What the runtime asks of the other nodes of a cluster (src/cluster/ implements it). A runtime
// without one is a single node: every id it does not host is ENOTFOUND. With one, an id that is
// not found locally (one failed map lookup) goes here; local delivery never does.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actor/events.hpp"
#include "actor/message.hpp"

namespace theater {

class Actor;
struct Manifest;

// Where a new actor goes in a cluster: a named node, else a policy.
struct Placement {
  enum class Policy {
    Near,         // on the parent's node (this one): the default
    LeastLoaded,  // the live node hosting the fewest actors
    Spread,       // the live nodes in turn
  };
  Policy policy = Policy::Near;
  std::string node;  // a node's name: there, whatever the policy
  bool named = false;  // written as "node:NAME"
};

// The one reading of a placement as `spawn_on`, the HTTP API and the CLI write it: "node:NAME",
// or a policy: "near-parent" (also ""), "least-loaded", "spread". nullopt: neither.
inline constexpr std::string_view kPlacementPolicies = "near-parent, least-loaded, spread";
inline std::optional<Placement> parse_placement(std::string_view where) {
  Placement p;
  if (where.rfind("node:", 0) == 0) {
    p.node = std::string(where.substr(5));
    p.named = true;
  } else if (where.empty() || where == "near-parent") {
    p.policy = Placement::Policy::Near;
  } else if (where == "least-loaded") {
    p.policy = Placement::Policy::LeastLoaded;
  } else if (where == "spread") {
    p.policy = Placement::Policy::Spread;
  } else {
    return std::nullopt;
  }
  return p;
}

class RemoteNodes {
 public:
  virtual ~RemoteNodes() = default;
  // Supervision across nodes: what a proxy (an Actor whose `home` is another node) asks of the
  // node that runs the real actor; `done` gets OK, or an ABI error (the node is gone: EFAILED).
  // Stop/Restart: the same as Runtime::stop/restart on that node (the parent decides there), for
  // a caller on another node (the CLI or HTTP API of any node of the cluster).
  // Events: the actor's recent events (Cluster::events_of).
  enum class Control : int32_t {
    Init = 1, Terminate = 2, Stop = 3, Forget = 4, Spawn = 5, StopActor = 6, RestartActor = 7, Events = 8
  };
  virtual void control(const std::string& node, const std::string& id, Control op, uint32_t reason,
                       std::function<void(int32_t rc)> done) = 0;
  // Runtime::stop/restart of an actor this node does not host, done by the node that does.
  // OK when it was done; ENOTFOUND when no live node hosts `id`; ETIMEOUT.
  virtual int32_t lifecycle(const std::string& id, Control op) = 0;
  // The recent events of an actor another node hosts (as Actor::event_history there); nullopt
  // when no live node hosts it.
  virtual std::optional<std::vector<Event>> events_of(const std::string& id) = 0;
  // A local actor whose parent lives on another node failed or exited normally.
  virtual void child_failed(const std::string& parent, const std::string& child, const std::string& kind,
                            const std::string& message) = 0;
  virtual void child_exited(const std::string& parent, const std::string& child, const Bytes& result) = 0;

  // Spawning from inside an actor with a placement (the `spawn_on` import). pick_node: the live
  // node that `where` names or its policy picks, or nullopt with `why` (no such live node).
  virtual std::optional<std::string> pick_node(const Placement& where, std::string& why) = 0;
  // Starts an actor from manifest `text` (its relative paths resolve against manifest.base_dir,
  // which that node must see too) on another node, under `parent`, an actor here that then
  // supervises it through a proxy. `done(rc, id or reason)` runs once its init has run there, or
  // once it could not start (the proxy is gone again).
  virtual void spawn_remote(const std::string& node, const Manifest& manifest, const std::string& text,
                            std::optional<Bytes> init, const std::string& parent,
                            std::function<void(int32_t rc, std::string id_or_why)> done) = 0;

  // A message for an actor this node does not host. Same contract as Actor::deliver: ENOTFOUND
  // when no live node hosts `to`; a request's or channel open's answer completes m.reply.
  virtual int32_t deliver(const std::string& to, Message m) = 0;

  // The lifecycle of this node's actors, so the cluster's directory and state store follow.
  // Before it joins the registry (and its init). `static_entry`: the parent's [[children]] entry
  // it is started for, kept so that a node adopting the tree gives the parent its entries back.
  virtual void registered(Actor& actor, std::optional<size_t> static_entry) = 0;
  virtual void unregistered(const std::string& id) = 0;  // stopped for good
  // After each commit (the handler succeeded), before its reply is released. Returns false if
  // the actor is no longer this node's (another node took it over): the reply is withheld.
  // `chain_token`: what the actor's journal returned for this commit (its chain head, 0: none).
  virtual bool committed(Actor& actor, const Bytes& state, uint64_t chain_token) = 0;
  // The runtime is going away (its actors have stopped): stop calling into it.
  virtual void detach() = 0;
  // An actor's turn on this thread has ended (or it waits): messages it sent to other nodes,
  // gathered during the turn, go out now.
  virtual void turn_ended() {}
};

}  // namespace theater
