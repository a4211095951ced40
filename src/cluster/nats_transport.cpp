#include "cluster/nats_transport.hpp"

#include <nats/nats.h>

#include <future>

#include <fmt/format.h>

namespace theater::cluster {

namespace {

std::string last_error(natsStatus s) {
  const char* text = nats_GetLastError(nullptr);
  return text && *text ? text : natsStatus_GetText(s);
}

void check(natsStatus s, std::string_view what) {
  if (s != NATS_OK) throw NatsError(fmt::format("{}: {}", what, last_error(s)));
}

}  // namespace

// ---- connection ------------------------------------------------------------------------------

struct NatsConnection::Subscription {
  Handler handler;
  natsSubscription* sub = nullptr;
  std::promise<void> completed;  // the handler will not run again
  ~Subscription() {
    if (sub) natsSubscription_Destroy(sub);
  }
  static void on_complete(void* closure) { static_cast<Subscription*>(closure)->completed.set_value(); }
  static void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<Subscription*>(closure);
    self->handler(natsMsg_GetSubject(msg),
                  std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))));
    natsMsg_Destroy(msg);
  }
};

NatsConnection::NatsConnection(const ConnectionOptions& options) : options_(options) {
  check(natsOptions_Create(&opts_), "nats options");
  check(natsOptions_SetURL(opts_, options_.url.c_str()), fmt::format("nats url {}", options_.url));
  if (!options_.name.empty()) natsOptions_SetName(opts_, options_.name.c_str());
  natsOptions_SetSendAsap(opts_, options_.send_asap);
  natsOptions_SetTimeout(opts_, options_.connect_timeout.count());
  natsOptions_SetMaxReconnect(opts_, -1);  // forever: a restarted server is found again
  natsOptions_SetReconnectWait(opts_, options_.reconnect_wait.count());
  natsOptions_SetReconnectBufSize(opts_, 64 * 1024 * 1024);
  if (natsStatus s = natsConnection_Connect(&nc_, opts_); s != NATS_OK) {
    natsOptions_Destroy(opts_);
    throw NatsError(fmt::format("cannot connect to NATS at {}: {}", options_.url, last_error(s)));
  }
}

NatsConnection::~NatsConnection() {
  close();
  subs_.clear();
  if (nc_) natsConnection_Destroy(nc_);
  if (opts_) natsOptions_Destroy(opts_);
}

bool NatsConnection::publish(const std::string& subject, std::string_view data) {
  return natsConnection_Publish(nc_, subject.c_str(), data.data(), static_cast<int>(data.size())) == NATS_OK;
}

void NatsConnection::subscribe(const std::string& subject, Handler handler) {
  auto sub = std::make_unique<Subscription>();
  sub->handler = std::move(handler);
  check(natsConnection_Subscribe(&sub->sub, nc_, subject.c_str(), &Subscription::on_message, sub.get()),
        fmt::format("subscribe {}", subject));
  // No limit on what may wait for the handler: a slow consumer must not drop actor messages.
  natsSubscription_SetPendingLimits(sub->sub, -1, -1);
  natsSubscription_SetOnCompleteCB(sub->sub, &Subscription::on_complete, sub.get());
  subs_.push_back(std::move(sub));
}

bool NatsConnection::flush(std::chrono::milliseconds timeout) {
  return natsConnection_FlushTimeout(nc_, timeout.count()) == NATS_OK;
}

void NatsConnection::close() {
  if (!nc_ || closed_) return;
  closed_ = true;
  natsConnection_Close(nc_);
  // A handler may be running on a libnats thread this very moment: wait it out.
  for (auto& sub : subs_) sub->completed.get_future().wait_for(std::chrono::seconds(5));
}

bool NatsConnection::connected() const {
  return natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

// ---- key-value bucket ------------------------------------------------------------------------

KvBucket::KvBucket(NatsConnection& connection, const std::string& bucket) : name_(bucket) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 5000;
  check(natsConnection_JetStream(&js_, connection.raw(), &jo), "jetstream context");
  if (js_KeyValue(&kv_, js_, bucket.c_str()) == NATS_OK) return;
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = bucket.c_str();
  cfg.History = 1;
  cfg.StorageType = js_FileStorage;
  if (natsStatus s = js_CreateKeyValue(&kv_, js_, &cfg); s != NATS_OK) {
    // Another node may have created it at the same moment.
    if (js_KeyValue(&kv_, js_, bucket.c_str()) != NATS_OK) {
      const std::string why = last_error(s);
      jsCtx_Destroy(js_);
      throw NatsError(fmt::format("key-value bucket {} (is JetStream on? nats-server -js): {}", bucket, why));
    }
  }
}

KvBucket::~KvBucket() {
  stopping_.store(true);
  if (watch_thread_) watch_thread_->join();  // its waits are short (200 ms)
  if (watcher_) kvWatcher_Destroy(watcher_);
  if (kv_) kvStore_Destroy(kv_);
  if (js_) jsCtx_Destroy(js_);
}

namespace {
KvEntry to_entry(kvEntry* e) {
  KvEntry out;
  out.key = kvEntry_Key(e);
  const int len = kvEntry_ValueLen(e);
  if (len > 0) out.value.assign(static_cast<const char*>(kvEntry_Value(e)), static_cast<size_t>(len));
  out.revision = kvEntry_Revision(e);
  out.deleted = kvEntry_Operation(e) != kvOp_Put;
  return out;
}
}  // namespace

std::optional<KvEntry> KvBucket::get(const std::string& key) {
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv_, key.c_str());
  if (s == NATS_NOT_FOUND) return std::nullopt;
  check(s, fmt::format("get {} from {}", key, name_));
  KvEntry out = to_entry(e);
  kvEntry_Destroy(e);
  if (out.deleted) return std::nullopt;
  return out;
}

std::optional<uint64_t> KvBucket::update(const std::string& key, std::string_view value, uint64_t last) {
  uint64_t rev = 0;
  const int len = static_cast<int>(value.size());
  natsStatus s = last == 0 ? kvStore_Create(&rev, kv_, key.c_str(), value.data(), len)
                           : kvStore_Update(&rev, kv_, key.c_str(), value.data(), len, last);
  if (s == NATS_OK) return rev;
  const std::string why = last_error(s);
  // A revision mismatch is an answer, not an error: tell it from a lost server by looking.
  if (s == NATS_ERR) {
    auto now = get(key);
    if ((now ? now->revision : 0) != last) return std::nullopt;
  }
  throw NatsError(fmt::format("update {} in {}: {}", key, name_, why));
}

uint64_t KvBucket::put(const std::string& key, std::string_view value) {
  uint64_t rev = 0;
  check(kvStore_Put(&rev, kv_, key.c_str(), value.data(), static_cast<int>(value.size())),
        fmt::format("put {} in {}", key, name_));
  return rev;
}

void KvBucket::erase(const std::string& key) {
  check(kvStore_Delete(kv_, key.c_str()), fmt::format("delete {} from {}", key, name_));
}

std::vector<std::string> KvBucket::keys() {
  kvKeysList list;
  std::vector<std::string> out;
  natsStatus s = kvStore_Keys(&list, kv_, nullptr);
  if (s == NATS_NOT_FOUND) return out;
  check(s, fmt::format("keys of {}", name_));
  for (int i = 0; i < list.Count; ++i) out.emplace_back(list.Keys[i]);
  kvKeysList_Destroy(&list);
  return out;
}

void KvBucket::watch(std::function<void(const KvEntry&)> on_entry, std::function<void()> on_caught_up) {
  check(kvStore_WatchAll(&watcher_, kv_, nullptr), fmt::format("watch {}", name_));
  watch_thread_ = std::make_unique<std::thread>([this, on_entry = std::move(on_entry),
                                                 on_caught_up = std::move(on_caught_up)] {
    bool caught_up = false;
    while (!stopping_.load()) {
      kvEntry* e = nullptr;
      natsStatus s = NATS_ERR;
      {
        std::lock_guard lock(watcher_mutex_);
        if (watcher_) s = kvWatcher_Next(&e, watcher_, 200);
      }
      if (s == NATS_TIMEOUT) continue;
      if (s != NATS_OK) {
        // The watcher ended (the server went away, or we are stopping): start a new one, which
        // replays the current entries; revision checks make the replay harmless.
        std::lock_guard lock(watcher_mutex_);
        if (stopping_.load()) break;
        if (watcher_) kvWatcher_Destroy(watcher_);
        watcher_ = nullptr;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (kvStore_WatchAll(&watcher_, kv_, nullptr) != NATS_OK) watcher_ = nullptr;
        continue;
      }
      if (!e) {  // the marker after the initial values
        if (!caught_up && on_caught_up) on_caught_up();
        caught_up = true;
        continue;
      }
      on_entry(to_entry(e));
      kvEntry_Destroy(e);
    }
  });
}

}  // namespace theater::cluster
