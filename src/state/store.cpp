#include "state/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "actor/message.hpp"
#include "engine/engine.hpp"

namespace theater::state {

namespace {

constexpr int kSchemaVersion = 2;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS actors(
  id TEXT PRIMARY KEY,
  ord INTEGER NOT NULL,
  name TEXT NOT NULL,
  parent TEXT NOT NULL,
  manifest TEXT NOT NULL,
  module TEXT NOT NULL,
  state BLOB NOT NULL,
  stopped INTEGER NOT NULL DEFAULT 0,
  restarts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS events(
  actor TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY(actor, first_seq)) WITHOUT ROWID;
)sql";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK) {
      throw StoreError(fmt::format("store: cannot prepare '{}': {}", sql, sqlite3_errmsg(db)));
    }
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& blob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& i64(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  bool row() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) throw StoreError(fmt::format("store: {}", sqlite3_errmsg(db_)));
    return false;
  }
  std::string col_text(int i) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(s_, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, i))) : std::string();
  }
  int64_t col_i64(int i) const { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

// Binds and runs a statement prepared once (the writer's hot statements).
void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw StoreError(fmt::format("store: {}: {}", what, sqlite3_errmsg(db)));
  }
}

ActorRecord read_actor(const Stmt& s) {
  ActorRecord r;
  r.id = s.col_text(0);
  r.order = static_cast<uint64_t>(s.col_i64(1));
  r.name = s.col_text(2);
  r.parent = s.col_text(3);
  r.manifest = s.col_text(4);
  r.module = s.col_text(5);
  r.state = s.col_text(6);
  r.stopped = s.col_i64(7) != 0;
  r.restarts = static_cast<uint32_t>(s.col_i64(8));
  return r;
}

constexpr const char* kActorColumns = "id, ord, name, parent, manifest, module, state, stopped, restarts";

// The export calls that are inputs of their own (not messages, not init): recorded as Call events.
bool recorded_call(std::string_view name) {
  return name == "theater_shutdown" || name == "theater_handle_child_error" ||
         name == "theater_handle_child_exit" || name == "theater_handle_down";
}

}  // namespace

const char* to_string(Durability d) { return d == Durability::Sync ? "sync" : "group"; }

// ---- opening ---------------------------------------------------------------------------------

Store::Store(std::filesystem::path dir, StoreOptions options, bool read_only)
    : dir_(std::move(dir)), options_(options) {
  open_db(read_only);
}

std::unique_ptr<Store> Store::open(const std::filesystem::path& dir, StoreOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw StoreError(fmt::format("{}: cannot create the data dir: {}", dir.string(), ec.message()));
  const auto lock_path = dir / "lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw StoreError(fmt::format("{}: cannot open: {}", lock_path.string(), std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    (void)!::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    throw StoreError(fmt::format("{}: another runtime (pid {}) is using this data dir", dir.string(),
                                 pid[0] ? pid : "?"));
  }
  const auto pid = std::to_string(::getpid());
  (void)!::ftruncate(fd, 0);
  (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  std::unique_ptr<Store> store;
  try {
    store.reset(new Store(dir, options, false));
  } catch (...) {
    ::close(fd);
    throw;
  }
  store->lock_fd_ = fd;
  store->writer_ = std::thread([s = store.get()] { s->writer_loop(); });
  return store;
}

std::unique_ptr<Store> Store::open_read_only(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir / "theater.db")) {
    throw StoreError(fmt::format("{}: no store here (theater.db is missing)", dir.string()));
  }
  return std::unique_ptr<Store>(new Store(dir, {}, true));
}

void Store::open_db(bool read_only) {
  const auto path = (dir_ / "theater.db").string();
  auto open_one = [&](sqlite3** db, int flags) {
    if (sqlite3_open_v2(path.c_str(), db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      std::string why = *db ? sqlite3_errmsg(*db) : "out of memory";
      sqlite3_close(*db);
      *db = nullptr;
      throw StoreError(fmt::format("{}: cannot open: {}", path, why));
    }
    sqlite3_busy_timeout(*db, 5000);
  };
  if (!read_only) {
    open_one(&db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("PRAGMA wal_autocheckpoint=8192");
    exec("PRAGMA cache_size=-32768");  // 32 MiB: the b-tree pages an insert walks stay in memory
    exec(kSchema);
    Stmt v(db_, "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', ?)");
    v.text(1, std::to_string(kSchemaVersion)).row();
    Stmt ord(db_, "SELECT COALESCE(MAX(ord), 0) FROM actors");
    if (ord.row()) next_order_ = static_cast<uint64_t>(ord.col_i64(0)) + 1;
    check(db_, sqlite3_prepare_v2(db_, "INSERT INTO events(actor, first_seq, last_seq, data) VALUES(?, ?, ?, ?)", -1,
                                  &insert_event_, nullptr),
          "prepare");
    check(db_, sqlite3_prepare_v2(db_, "UPDATE actors SET state = ? WHERE id = ?", -1, &update_state_, nullptr),
          "prepare");
  }
  open_one(&read_db_, SQLITE_OPEN_READONLY);
  Stmt v(read_db_, "SELECT value FROM meta WHERE key = 'schema'");
  if (!v.row() || v.col_text(0) != std::to_string(kSchemaVersion)) {
    throw StoreError(fmt::format("{}: not a theater store of schema version {}", path, kSchemaVersion));
  }
}

Store::~Store() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    writer_cv_.notify_all();
    writer_.join();
  }
  sqlite3_finalize(insert_event_);
  sqlite3_finalize(update_state_);
  sqlite3_close(db_);
  sqlite3_close(read_db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void Store::exec(const char* sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err ? err : "?";
    sqlite3_free(err);
    throw StoreError(fmt::format("store: {}", why));
  }
}

// ---- reads -----------------------------------------------------------------------------------

std::vector<ActorRecord> Store::actors(bool include_stopped) const {
  std::lock_guard lock(read_mutex_);
  Stmt s(read_db_, fmt::format("SELECT {} FROM actors {} ORDER BY ord", kActorColumns,
                               include_stopped ? "" : "WHERE stopped = 0"));
  std::vector<ActorRecord> out;
  while (s.row()) out.push_back(read_actor(s));
  return out;
}

std::optional<ActorRecord> Store::actor(const std::string& id) const {
  std::lock_guard lock(read_mutex_);
  Stmt s(read_db_, fmt::format("SELECT {} FROM actors WHERE id = ?", kActorColumns));
  s.text(1, id);
  if (!s.row()) return std::nullopt;
  return read_actor(s);
}

std::string Store::resolve_actor(const std::string& id_or_name) const {
  if (actor(id_or_name)) return id_or_name;
  std::vector<std::string> live, all;
  for (const auto& a : actors(true)) {
    if (a.name != id_or_name) continue;
    all.push_back(a.id);
    if (!a.stopped) live.push_back(a.id);
  }
  if (live.size() == 1) return live[0];
  if (live.empty() && all.size() == 1) return all[0];
  if (all.empty()) throw StoreError(fmt::format("no actor with id or name '{}' in {}", id_or_name, dir_.string()));
  std::string ids;
  for (const auto& id : live.empty() ? all : live) ids += " " + id;
  throw StoreError(fmt::format("more than one actor is named '{}'; give its id:{}", id_or_name, ids));
}

std::vector<StoredEvent> Store::events(const std::string& actor, const EventFilter& f) const {
  std::optional<BrokenLink> unreadable;
  auto out = read_events(actor, f, unreadable);
  if (unreadable) throw StoreError(fmt::format("{}: {}", actor, unreadable->reason));
  return out;
}

std::vector<StoredEvent> Store::read_events(const std::string& actor, const EventFilter& f,
                                            std::optional<BrokenLink>& unreadable) const {
  std::vector<StoredEvent> out;
  std::lock_guard lock(read_mutex_);
  Stmt s(read_db_, "SELECT first_seq, data FROM events WHERE actor = ? AND last_seq > ? ORDER BY first_seq");
  s.text(1, actor).i64(2, static_cast<int64_t>(f.after_seq));
  while (s.row() && out.size() < f.limit) {
    std::vector<StoredEvent> segment;
    try {
      segment = decode_segment(s.col_text(1));
    } catch (const PayloadError& e) {
      const auto first = static_cast<uint64_t>(s.col_i64(0));
      unreadable = BrokenLink{first, fmt::format("the events from {} on are unreadable: {}", first, e.what())};
      break;
    }
    for (auto& e : segment) {
      if (e.seq <= f.after_seq || e.time_ms < f.since_ms || e.time_ms > f.until_ms) continue;
      if (!f.types.empty() && std::find(f.types.begin(), f.types.end(), e.type) == f.types.end()) continue;
      out.push_back(std::move(e));
      if (out.size() == f.limit) break;
    }
  }
  return out;
}

std::optional<BrokenLink> Store::verify(const std::string& actor_id) const {
  // One read transaction: a runtime writing meanwhile cannot put the row and the chain out of step.
  {
    std::lock_guard lock(read_mutex_);
    sqlite3_exec(read_db_, "BEGIN", nullptr, nullptr, nullptr);
  }
  struct End {
    const Store* s;
    ~End() {
      std::lock_guard lock(s->read_mutex_);
      sqlite3_exec(s->read_db_, "COMMIT", nullptr, nullptr, nullptr);
    }
  } end{this};
  auto row = actor(actor_id);
  if (!row) return BrokenLink{0, fmt::format("no actor {}", actor_id)};
  std::optional<BrokenLink> unreadable;
  const auto evs = read_events(actor_id, {}, unreadable);
  if (auto broken = verify_chain(evs)) return broken;
  if (unreadable) return unreadable;
  if (evs.empty()) return BrokenLink{1, "the chain is empty"};
  // The state row must be the state of the last commit (or the initial state, before any).
  std::optional<Hash> expected;
  uint64_t at = 0;
  try {
    for (const auto& e : evs) {
      PayloadReader r(e.payload);
      if (e.type == EventType::Committed) {
        expected = r.blob().hash;
        at = e.seq;
      } else if (e.type == EventType::Created) {
        for (int i = 0; i < 5; ++i) r.str();
        expected = r.blob().hash;
        at = e.seq;
      }
    }
  } catch (const PayloadError& err) {
    return BrokenLink{at, err.what()};
  }
  if (expected && sha256(row->state) != *expected) {
    return BrokenLink{at, fmt::format("the stored state ({} bytes, sha256 {}) is not the one event {} committed "
                                      "(sha256 {}): the state row was changed",
                                      row->state.size(), hex(sha256(row->state)), at, hex(*expected))};
  }
  return std::nullopt;
}

// ---- writes ----------------------------------------------------------------------------------

Journal& Store::journal(const std::string& actor_id, bool store_payloads, bool chain) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = journals_.find(actor_id); it != journals_.end()) return *it->second;
  }
  // Continue the stored chain, if there is one (read without holding the queue: others go on).
  auto made = std::make_unique<Journal>(*this, actor_id, store_payloads, chain);
  {
    std::lock_guard rlock(read_mutex_);
    Stmt s(read_db_, "SELECT last_seq, data FROM events WHERE actor = ? ORDER BY first_seq DESC LIMIT 1");
    s.text(1, actor_id);
    if (s.row()) {
      made->next_seq_ = static_cast<uint64_t>(s.col_i64(0)) + 1;
      try {
        const auto last = decode_segment(s.col_text(1));
        if (!last.empty()) made->head_ = last.back().hash;
      } catch (const PayloadError&) {
        // An edited store: the chain goes on, and `theater verify` will name the break.
      }
    }
    Stmt r(read_db_, "SELECT restarts FROM actors WHERE id = ?");
    r.text(1, actor_id);
    if (r.row()) made->restarts_ = static_cast<uint32_t>(r.col_i64(0));
  }
  std::lock_guard lock(mutex_);
  auto& slot = journals_[actor_id];
  if (!slot) slot = std::move(made);
  return *slot;
}

void Store::wait_for_room(std::unique_lock<std::mutex>& lock) {
  const auto full = [&] {
    return queue_.arena.size() + queue_.ops.size() * sizeof(Op) > options_.max_backlog_bytes;
  };
  if (!full()) return;
  kick_ = true;
  writer_cv_.notify_one();
  room_cv_.wait(lock, [&] { return !full() || stopping_; });
}

uint64_t Store::enqueue(Op op) {
  std::unique_lock lock(mutex_);
  wait_for_room(lock);
  if (queue_.ops.empty()) first_queued_ = std::chrono::steady_clock::now();
  queue_.ops.push_back(std::move(op));
  queue_.ticket = ++queued_;
  if (queue_.ops.size() == 1) writer_cv_.notify_one();
  return queued_;
}

template <typename Fill>
uint64_t Store::append(Journal& j, EventType type, Fill&& fill) {
  std::unique_lock lock(mutex_);
  wait_for_room(lock);
  if (queue_.ops.empty()) first_queued_ = std::chrono::steady_clock::now();
  Op op;
  op.kind = Op::Event;
  op.type = type;
  op.journal = &j;
  op.seq = j.next_seq_++;
  op.time_ms = now_ms();
  op.off = static_cast<uint32_t>(queue_.arena.size());
  PayloadWriter w(queue_.arena);
  fill(w);
  op.len = static_cast<uint32_t>(queue_.arena.size() - op.off);
  queue_.ops.push_back(op);
  queue_.ticket = ++queued_;
  // The writer sleeps while the queue is empty; group mode then lets the batch fill up.
  if (queue_.ops.size() == 1) writer_cv_.notify_one();
  return queued_;
}

void Store::put_actor(ActorRecord row) {
  {
    std::lock_guard lock(mutex_);
    row.order = next_order_++;
  }
  update_row(Op::PutActor, std::move(row));
}

void Store::update_row(Op::Kind kind, ActorRecord row) {
  Op op;
  op.kind = kind;
  op.row = std::make_shared<const ActorRecord>(std::move(row));
  enqueue(std::move(op));
}

void Store::set_stopped(const std::string& actor_id) {
  ActorRecord r;
  r.id = actor_id;
  update_row(Op::Stopped, std::move(r));
}

void Store::set_module(const std::string& actor_id, const std::string& module, const std::string& manifest_json) {
  ActorRecord r;
  r.id = actor_id;
  r.module = module;
  r.manifest = manifest_json;
  update_row(Op::Module, std::move(r));
}

uint64_t Store::ticket() const {
  std::lock_guard lock(mutex_);
  return queued_;
}

uint64_t Store::durable() const {
  std::lock_guard lock(mutex_);
  return durable_;
}

void Store::wait_durable(uint64_t ticket) {
  std::unique_lock lock(mutex_);
  if (durable_ >= ticket) return;
  kick_ = true;
  writer_cv_.notify_one();
  durable_cv_.wait(lock, [&] { return durable_ >= ticket || !writer_.joinable(); });
}

void Store::writer_loop() {
  Batch batch;
  std::unique_lock lock(mutex_);
  for (;;) {
    writer_cv_.wait(lock, [&] { return stopping_ || !queue_.ops.empty(); });
    if (queue_.ops.empty()) break;  // stopping, nothing left
    if (options_.durability == Durability::Group && !stopping_ && !kick_) {
      // Let the batch fill: until group_commit after its first write, or someone waits.
      writer_cv_.wait_until(lock, first_queued_ + options_.group_commit, [&] { return stopping_ || kick_; });
    }
    kick_ = false;
    std::swap(batch, queue_);
    room_cv_.notify_all();
    lock.unlock();
    for (int attempt = 1;; ++attempt) {
      try {
        write_batch(batch);
        break;
      } catch (const std::exception& e) {
        // The disk is full or failing: keep the batch (and everything behind it) and try again.
        spdlog::error("store: cannot write {} queued writes (attempt {}): {}", batch.ops.size(), attempt, e.what());
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1000, 10 * attempt)));
      }
    }
    lock.lock();
    for (const Op& op : batch.ops) {
      if (op.kind == Op::Event && op.type == EventType::Committed) op.journal->commit_durable_ = op.journal->commit_written_;
    }
    durable_ = batch.ticket;
    durable_cv_.notify_all();
    batch.ops.clear();
    batch.arena.clear();
  }
}

void Store::write_batch(Batch& batch) {
  // Each journal's state row is written once per batch, with its last commit.
  for (size_t i = 0; i < batch.ops.size(); ++i) {
    const Op& op = batch.ops[i];
    if (op.kind == Op::Event && op.type == EventType::Committed) op.journal->last_state_op_ = i;
  }
  std::unordered_map<Journal*, Hash> heads;  // chain heads before this batch, to undo a failed write
  std::vector<Journal*> touched;              // each has this batch's events in its segment_
  exec("BEGIN IMMEDIATE");
  try {
    std::string payload;
    for (size_t i = 0; i < batch.ops.size(); ++i) {
      const Op& op = batch.ops[i];
      switch (op.kind) {
        case Op::Event: {
          Journal& j = *op.journal;
          heads.try_emplace(&j, j.head_);
          std::string_view body(batch.arena.data() + op.off, op.len);
          if (op.type == EventType::Committed) {
            // The state was queued as is; its event keeps only its size and hash.
            payload.clear();
            PayloadWriter(payload).blob(body, 0);
            if (j.last_state_op_ == i) {
              sqlite3_reset(update_state_);
              sqlite3_bind_blob(update_state_, 1, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
              sqlite3_bind_text(update_state_, 2, j.actor_.data(), static_cast<int>(j.actor_.size()), SQLITE_STATIC);
              check(db_, sqlite3_step(update_state_), "update state");
            }
            body = payload;
            if (!j.chain_) break;
          }
          if (op.type == EventType::Continued) {
            // Links to the head of the chain on the node the actor came from.
            StoredEvent e;
            e.seq = op.seq;
            e.type = op.type;
            e.payload = body;
            if (auto from = continued_from(e)) j.head_ = from->hash;
          }
          const Hash h = event_hash(j.head_, op.seq, op.time_ms, op.type, body);
          if (op.type == EventType::Committed) j.commit_written_ = {op.seq, h};
          if (j.segment_.empty()) {
            touched.push_back(&j);
            j.segment_first_ = op.seq;
          }
          append_record(j.segment_, op.seq, op.time_ms, op.type, body, h);
          j.segment_last_ = op.seq;
          j.head_ = h;
          break;
        }
        case Op::PutActor: {
          const ActorRecord& r = *op.row;
          Stmt s(db_, fmt::format("INSERT OR REPLACE INTO actors({}) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)", kActorColumns));
          s.text(1, r.id).i64(2, static_cast<int64_t>(r.order)).text(3, r.name).text(4, r.parent);
          s.text(5, r.manifest).text(6, r.module).blob(7, r.state).i64(8, r.stopped).i64(9, r.restarts).row();
          break;
        }
        case Op::Stopped: {
          Stmt s(db_, "UPDATE actors SET stopped = 1 WHERE id = ?");
          s.text(1, op.row->id).row();
          break;
        }
        case Op::Module: {
          Stmt s(db_, "UPDATE actors SET module = ?, manifest = ? WHERE id = ?");
          s.text(1, op.row->module).text(2, op.row->manifest).text(3, op.row->id).row();
          break;
        }
        case Op::Restarts: {
          Stmt s(db_, "UPDATE actors SET restarts = ? WHERE id = ?");
          s.i64(1, op.row->restarts).text(2, op.row->id).row();
          break;
        }
      }
    }
    // Each actor's events of this batch: one row.
    for (Journal* j : touched) {
      sqlite3_reset(insert_event_);
      sqlite3_bind_text(insert_event_, 1, j->actor_.data(), static_cast<int>(j->actor_.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert_event_, 2, static_cast<int64_t>(j->segment_first_));
      sqlite3_bind_int64(insert_event_, 3, static_cast<int64_t>(j->segment_last_));
      sqlite3_bind_blob(insert_event_, 4, j->segment_.data(), static_cast<int>(j->segment_.size()), SQLITE_STATIC);
      check(db_, sqlite3_step(insert_event_), "insert events");
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    for (auto& [j, h] : heads) j->head_ = h;
    for (Journal* j : touched) j->segment_.clear();
    throw;
  }
  for (Journal* j : touched) j->segment_.clear();
  for (const Op& op : batch.ops) {
    if (op.kind == Op::Event) op.journal->last_state_op_ = SIZE_MAX;
  }
}

// ---- journal ---------------------------------------------------------------------------------

Journal::Journal(Store& store, std::string actor, bool store_payloads, bool chain)
    : store_(store), actor_(std::move(actor)), limit_(store.options().payload_limit),
      keep_(store_payloads ? limit_ : 0), chain_(chain) {}

void Journal::created(const ActorRecord& row, std::string_view initial_state) {
  if (!chain_) return;
  const auto h = blob_hash(initial_state, keep_);
  store_.append(*this, EventType::Created, [&](PayloadWriter& w) {
    w.str(row.id).str(row.name).str(row.parent).str(row.module).str(row.manifest).blob(initial_state, keep_, h);
  });
}

void Journal::init(uint32_t reason, std::string_view state, std::string_view module_sha256) {
  if (!chain_) return;
  const auto h = blob_hash(state, keep_);
  const std::string module = "sha256:" + std::string(module_sha256);
  store_.append(*this, EventType::Init, [&](PayloadWriter& w) {
    w.u8(static_cast<uint8_t>(reason)).str(module).blob(state, keep_, h);
  });
}

void Journal::received(const Message& m) {
  if (!chain_) return;
  const auto h = blob_hash(m.bytes, keep_);
  store_.append(*this, EventType::Received, [&](PayloadWriter& w) {
    w.u8(static_cast<uint8_t>(m.kind)).str(m.from).str(m.channel).i64(m.tag).blob(m.bytes, keep_, h);
  });
}

void Journal::invoking(std::string_view export_name, std::span<const uint64_t> args,
                       engine::Instance& instance) {
  if (!chain_ || !recorded_call(export_name)) return;
  std::string a, b;
  if (args.size() >= 2) a = instance.read_bytes(uint32_t(args[0]), uint32_t(args[1])).value_or("");
  if (args.size() >= 4) b = instance.read_bytes(uint32_t(args[2]), uint32_t(args[3])).value_or("");
  const auto ha = blob_hash(a, keep_);
  const auto hb = blob_hash(b, keep_);
  store_.append(*this, EventType::Call, [&](PayloadWriter& w) {
    w.str(export_name).blob(a, keep_, ha).blob(b, keep_, hb);
  });
}

uint64_t Journal::committed(std::string_view state) {
  // The state goes into the queue as is: the writer hashes it and writes the actor's row.
  uint64_t seq = 0;
  const uint64_t ticket = store_.append(*this, EventType::Committed, [&](PayloadWriter& w) {
    w.raw(state);
    seq = next_seq_ - 1;  // append has taken this event's seq (under the queue lock)
  });
  if (store_.options().durability == Durability::Sync) store_.wait_durable(ticket);
  return chain_ ? seq : 0;
}

std::optional<ChainHead> Journal::commit_head(uint64_t token) {
  if (token == 0) return std::nullopt;
  store_.wait_durable(store_.ticket());  // the commit was queued before: it is written now
  std::lock_guard lock(store_.mutex_);
  if (commit_durable_.seq != token) return std::nullopt;
  return commit_durable_;
}

void Journal::continue_from(const ChainHead& head, std::string_view from_node) {
  if (!chain_) return;
  {
    std::lock_guard lock(store_.mutex_);
    // After the head, and after anything this store kept of the actor from an earlier stay here
    // (a branch the cluster did not keep: the head is elsewhere now).
    next_seq_ = std::max(next_seq_, head.seq + 1);
  }
  store_.append(*this, EventType::Continued,
                [&](PayloadWriter& w) { w.str(from_node).u64(head.seq).str(hex(head.hash)); });
}

void Journal::replied(std::string_view reply) {
  if (!chain_) return;
  const auto h = blob_hash(reply, keep_);
  store_.append(*this, EventType::Replied, [&](PayloadWriter& w) { w.blob(reply, keep_, h); });
}

void Journal::lifecycle(std::string_view type, std::string_view detail) {
  if (type == "log" || type == "started" || type == "restarted" || type == "created") return;
  if (!chain_ && type != "restarting") return;
  if (type == "failed") {
    // Runtime::record's detail for a failure is "<kind>: <message>".
    const auto colon = detail.find(": ");
    const auto kind = detail.substr(0, colon);
    const auto message = colon == std::string_view::npos ? std::string_view() : detail.substr(colon + 2);
    store_.append(*this, EventType::Failure, [&](PayloadWriter& w) { w.str(kind).str(message); });
  } else if (type == "restarting") {
    ++restarts_;
    if (chain_) store_.append(*this, EventType::Restart, [&](PayloadWriter& w) { w.u32(restarts_); });
    ActorRecord r;
    r.id = actor_;
    r.restarts = restarts_;
    store_.update_row(Store::Op::Restarts, std::move(r));
  } else if (type == "stopped" || type == "exited") {
    const auto h = blob_hash(detail, keep_);
    store_.append(*this, EventType::Stop, [&](PayloadWriter& w) { w.str(type).blob(detail, keep_, h); });
  } else {
    note(type, detail);
  }
}

void Journal::host(HostCall call, std::string_view key, std::string_view input, const HostOutcome& out) {
  if (!chain_) return;
  const auto hi = blob_hash(input, keep_);
  const auto ho = blob_hash(out.bytes, keep_);
  store_.append(*this, event_type_of(call), [&](PayloadWriter& w) {
    w.u8(static_cast<uint8_t>(call)).str(key).blob(input, keep_, hi).i64(out.rc).blob(out.bytes, keep_, ho);
  });
}

void Journal::upgrade(std::string_view from_module, std::string_view to_module, std::string_view manifest_json) {
  if (!chain_) return;
  store_.append(*this, EventType::Upgrade,
                [&](PayloadWriter& w) { w.str(from_module).str(to_module).str(manifest_json); });
}

void Journal::rollback(std::string_view reason) {
  if (!chain_) return;
  store_.append(*this, EventType::Rollback, [&](PayloadWriter& w) { w.str(reason); });
}

void Journal::note(std::string_view type, std::string_view detail) {
  if (!chain_) return;
  store_.append(*this, EventType::Note, [&](PayloadWriter& w) { w.str(type).str(detail); });
}

}  // namespace theater::state
