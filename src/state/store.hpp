#pragma once
// The embedded store: one SQLite database in WAL mode, <data dir>/theater.db, holding every
// actor's row (manifest, module, parent, place among its siblings, last committed state) and
// every actor's event chain, kept in segments: an actor's events of one write batch are one row
// (chain.hpp has the layout; docs/state.md the schema).
//
// Promises:
//  - Writes are queued and applied in order by one writer thread, in transactions that each end
//    with an fsync (synchronous = FULL). An actor's state row and its chain are written in the
//    same transactions, so after any crash the stored state is the one whose "committed" event
//    ends the stored chain: the store holds a prefix of what happened, never a mix.
//  - Durability::Sync: a state commit returns (Journal::committed) only once it is on disk.
//    Durability::Group: commits return at once; the writer makes them durable at most
//    `group_commit` later (sooner when someone waits). What a crash can lose: the commits of the
//    last `group_commit` ms, never one that wait_durable() has returned for.
//  - wait_durable(ticket()) returns once everything queued before it is on disk.
//  - One writing process per data dir (a lock file); readers (theater events / verify / replay)
//    may open it at any time, also while a runtime writes.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "state/chain.hpp"
#include "state/io.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace theater::state {

enum class Durability { Sync, Group };
const char* to_string(Durability d);

struct StoreOptions {
  Durability durability = Durability::Group;
  std::chrono::milliseconds group_commit{5};
  // Message bytes, host results and states kept in events, per blob (the hash is always kept).
  size_t payload_limit = 64 * 1024;
  // Queued and not yet written: past this, writers wait for the writer thread (back-pressure).
  size_t max_backlog_bytes = 64 << 20;
};

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An actor's row.
struct ActorRecord {
  std::string id, name, parent;  // parent "" = the runtime
  uint64_t order = 0;            // creation order in this store: siblings start in this order
  std::string manifest;          // manifest_json.hpp
  std::string module;            // "sha256:<hex>" of its module in the blob store
  std::string state;             // last committed state
  bool stopped = false;          // stopped for good: not brought back on recovery
  uint32_t restarts = 0;
};

struct EventFilter {
  std::vector<EventType> types;  // empty: all
  int64_t since_ms = INT64_MIN;
  int64_t until_ms = INT64_MAX;
  uint64_t after_seq = 0;
  size_t limit = SIZE_MAX;
};

class Store;

// One actor's recorder: appends its events to the store's queue. Owned by the store, so a
// pointer to it stays valid as long as the store.
class Journal final : public ActorIo {
 public:
  // chain false: only state commits (and restart counts) are stored, no events.
  Journal(Store& store, std::string actor, bool store_payloads, bool chain);
  const std::string& actor() const { return actor_; }
  void set_store_payloads(bool on) { keep_ = on ? limit_ : 0; }

  // ---- ActorIo ----
  void init(uint32_t reason, std::string_view state, std::string_view module_sha256) override;
  void received(const Message& m) override;
  void invoking(std::string_view export_name, std::span<const uint64_t> args,
                engine::Instance& instance) override;
  uint64_t committed(std::string_view state) override;
  std::optional<ChainHead> commit_head(uint64_t token) override;
  void replied(std::string_view reply) override;
  void lifecycle(std::string_view type, std::string_view detail) override;
  void host(HostCall call, std::string_view key, std::string_view input,
            const HostOutcome& outcome) override;

  // ---- recorded by the runtime ----
  void created(const ActorRecord& row, std::string_view initial_state);
  void upgrade(std::string_view from_module, std::string_view to_module, std::string_view manifest_json);
  void rollback(std::string_view reason);
  void note(std::string_view type, std::string_view detail);
  // The actor comes from another node, whose chain of it ended at `head` (a cluster's takeover):
  // the next event here is a "continued" one that links to that head.
  void continue_from(const ChainHead& head, std::string_view from_node);

 private:
  friend class Store;
  Store& store_;
  std::string actor_;
  size_t limit_;
  size_t keep_;  // bytes of each blob kept: limit_, or 0 when the manifest turns payloads off
  bool chain_;
  uint32_t restarts_ = 0;
  // Producer side, under the store's queue lock.
  uint64_t next_seq_ = 1;
  // Writer side.
  Hash head_{};
  ChainHead commit_written_;  // the last "committed" event hashed (published below once durable)
  // Under the store's queue lock: the last "committed" event that is on disk.
  ChainHead commit_durable_;
  size_t last_state_op_ = SIZE_MAX;
  std::string segment_;  // this batch's events, written as one row
  uint64_t segment_first_ = 0, segment_last_ = 0;
};

class Store {
 public:
  // Opens (creating if needed) <dir>/theater.db for a runtime: takes the data dir's lock and
  // starts the writer thread. Throws StoreError (e.g. another runtime holds the lock).
  static std::unique_ptr<Store> open(const std::filesystem::path& dir, StoreOptions options = {});
  // Opens an existing store to read (no lock, no writer). Throws StoreError if there is none.
  static std::unique_ptr<Store> open_read_only(const std::filesystem::path& dir);
  ~Store();  // writes what is queued, then closes
  Store(const Store&) = delete;

  const StoreOptions& options() const { return options_; }
  const std::filesystem::path& dir() const { return dir_; }

  // ---- reads (any thread) ----
  std::vector<ActorRecord> actors(bool include_stopped = true) const;
  std::optional<ActorRecord> actor(const std::string& id) const;
  // An id, or a name that exactly one actor has (preferring live ones). Throws StoreError.
  std::string resolve_actor(const std::string& id_or_name) const;
  std::vector<StoredEvent> events(const std::string& actor, const EventFilter& filter = {}) const;
  // Checks the chain, and that the state row hashes to the chain's last "committed" event.
  std::optional<BrokenLink> verify(const std::string& actor) const;

  // ---- writes (queued, applied in order) ----
  // The recorder of `actor`, made on first use (continuing its stored chain).
  Journal& journal(const std::string& actor, bool store_payloads = true, bool chain = true);
  void put_actor(ActorRecord row);  // order is assigned here
  void set_stopped(const std::string& actor);
  void set_module(const std::string& actor, const std::string& module, const std::string& manifest_json);

  // Durability: a ticket is the position of the last queued write.
  uint64_t ticket() const;
  uint64_t durable() const;
  void wait_durable(uint64_t ticket);
  void flush() { wait_durable(ticket()); }

 private:
  friend class Journal;
  struct Op {
    enum Kind : uint8_t { Event, PutActor, Stopped, Module, Restarts } kind = Event;
    EventType type = EventType::Note;
    Journal* journal = nullptr;
    uint64_t seq = 0;
    int64_t time_ms = 0;
    uint32_t off = 0, len = 0;  // payload (for Committed: the state itself) in the arena
    std::shared_ptr<const ActorRecord> row;
  };
  struct Batch {
    std::vector<Op> ops;
    std::string arena;
    uint64_t ticket = 0;
  };

  Store(std::filesystem::path dir, StoreOptions options, bool read_only);
  void open_db(bool read_only);
  // The events, up to a segment that does not parse (then `unreadable` says where).
  std::vector<StoredEvent> read_events(const std::string& actor, const EventFilter& filter,
                                       std::optional<BrokenLink>& unreadable) const;
  // Appends one event; `fill` writes its payload into the queue's arena. Returns its ticket.
  template <typename Fill>
  uint64_t append(Journal& j, EventType type, Fill&& fill);
  uint64_t enqueue(Op op);
  void update_row(Op::Kind kind, ActorRecord row);
  void wait_for_room(std::unique_lock<std::mutex>& lock);
  void writer_loop();
  void write_batch(Batch& batch);
  void exec(const char* sql) const;

  std::filesystem::path dir_;
  StoreOptions options_;
  int lock_fd_ = -1;
  sqlite3* db_ = nullptr;  // the writer's connection
  mutable std::mutex read_mutex_;
  sqlite3* read_db_ = nullptr;
  sqlite3_stmt* insert_event_ = nullptr;
  sqlite3_stmt* update_state_ = nullptr;

  mutable std::mutex mutex_;  // the queue, tickets, journals
  std::condition_variable writer_cv_, durable_cv_, room_cv_;
  Batch queue_;
  uint64_t queued_ = 0, durable_ = 0;
  bool kick_ = false, stopping_ = false;
  std::chrono::steady_clock::time_point first_queued_{};
  uint64_t next_order_ = 1;
  std::map<std::string, std::unique_ptr<Journal>> journals_;
  std::thread writer_;
};

}  // namespace theater::state
