#pragma once
// A thin RAII layer over libnats (the NATS C client, Debian's libnats-dev): a connection that
// publishes and subscribes with std::function callbacks, and a JetStream key-value bucket with the
// revision-checked writes that cluster ownership rests on. Nothing Theater-specific lives here.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// libnats types, kept out of the includers' way.
struct __natsConnection;
struct __natsOptions;
struct __natsSubscription;
struct __jsCtx;
struct __kvStore;
struct __kvWatcher;

namespace theater::cluster {

struct NatsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ConnectionOptions {
  std::string url;                 // nats://host:port
  std::string name;                // shown by the server (connz)
  bool send_asap = false;          // write each publish at once instead of buffering (latency)
  std::chrono::milliseconds reconnect_wait{100};
  std::chrono::milliseconds connect_timeout{2000};
};

class NatsConnection {
 public:
  // Connects (throws NatsError naming the url if the server cannot be reached). Reconnects
  // forever after a loss; publishes made meanwhile are buffered by libnats.
  explicit NatsConnection(const ConnectionOptions& options);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;

  // Returns false if the message could not be queued (closed connection, buffer full).
  bool publish(const std::string& subject, std::string_view data);
  // Calls `handler(subject, data)` on a libnats thread for each message, in arrival order.
  using Handler = std::function<void(std::string_view subject, std::string_view data)>;
  void subscribe(const std::string& subject, Handler handler);
  // Waits until the server has everything published so far (a PING round trip).
  bool flush(std::chrono::milliseconds timeout);
  bool connected() const;
  void close();  // no more traffic; returns once no subscription handler runs any more
  __natsConnection* raw() { return nc_; }

 private:
  struct Subscription;
  ConnectionOptions options_;
  __natsOptions* opts_ = nullptr;
  __natsConnection* nc_ = nullptr;
  std::vector<std::unique_ptr<Subscription>> subs_;
  bool closed_ = false;
};

// One entry of a bucket: the value and the revision it was written at.
struct KvEntry {
  std::string key;
  std::string value;
  uint64_t revision = 0;
  bool deleted = false;  // a delete or purge marker (watchers see these)
};

// A JetStream key-value bucket. Every write that takes `last` succeeds only if the key's latest
// revision is still `last` (0 = the key must not exist): two writers can never both win.
class KvBucket {
 public:
  // Binds to the bucket, creating it (file storage, history 1) if it does not exist.
  KvBucket(NatsConnection& connection, const std::string& bucket);
  ~KvBucket();
  KvBucket(const KvBucket&) = delete;

  std::optional<KvEntry> get(const std::string& key);  // nullopt: no such key (or deleted)
  // Revision-checked write: the new revision, or nullopt if `last` was not the latest.
  // Throws NatsError on any other failure (no server, timeout).
  std::optional<uint64_t> update(const std::string& key, std::string_view value, uint64_t last);
  uint64_t put(const std::string& key, std::string_view value);  // unconditional
  void erase(const std::string& key);
  std::vector<std::string> keys();

  // Calls `on_entry` (on its own thread) with every current entry, then with each change, until
  // the bucket object is destroyed. `on_caught_up` runs once the current entries have been seen.
  void watch(std::function<void(const KvEntry&)> on_entry, std::function<void()> on_caught_up);

  const std::string& name() const { return name_; }

 private:
  std::string name_;
  __jsCtx* js_ = nullptr;
  __kvStore* kv_ = nullptr;
  std::mutex watcher_mutex_;
  __kvWatcher* watcher_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<std::thread> watch_thread_;
};

}  // namespace theater::cluster
