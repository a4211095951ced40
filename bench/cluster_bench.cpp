// Cluster benchmark (issue 7): Theater across two nodes against raw libnats, in the same run, on
// the same private nats-server (loopback):
//   - request round trip: an actor on node a requests an echo actor on node b, one at a time,
//     vs natsConnection_Request to a replier whose connection has send-asap set;
//   - send throughput: an actor on node a sends a burst to an actor on node b, which checks the
//     order, vs natsConnection_Publish to a counting subscriber;
//   - failover: kill -9 of a node process to its actor answering on another node (heartbeat 250 ms,
//     down after 4 missed: the defaults).
// Prints a table. Usage: theater_cluster_bench [round_trips] [sends]
#include <nats/nats.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "abi/abi.hpp"
#include "actor/runtime.hpp"
#include "cluster/cluster.hpp"
#include "support/nats_server.hpp"

namespace {

using namespace theater;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t) { return std::chrono::duration<double, std::micro>(Clock::now() - t).count(); }

natsConnection* connect(const std::string& url, bool send_asap) {
  natsOptions* opts = nullptr;
  natsOptions_Create(&opts);
  natsOptions_SetURL(opts, url.c_str());
  natsOptions_SetSendAsap(opts, send_asap);
  natsConnection* nc = nullptr;
  if (natsConnection_Connect(&nc, opts) != NATS_OK) throw std::runtime_error("cannot connect to " + url);
  natsOptions_Destroy(opts);
  return nc;
}

// Raw libnats: mean request round trip in microseconds.
double raw_round_trip(const std::string& url, int n) {
  natsConnection* replier = connect(url, true);  // the reply connection: send-asap
  natsConnection* requester = connect(url, false);
  natsSubscription* sub = nullptr;
  natsConnection_Subscribe(&sub, replier, "bench.echo",
                           [](natsConnection* nc, natsSubscription*, natsMsg* m, void*) {
                             natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
                             natsMsg_Destroy(m);
                           },
                           nullptr);
  natsConnection_Flush(replier);
  auto once = [&] {
    natsMsg* reply = nullptr;
    if (natsConnection_RequestString(&reply, requester, "bench.echo", "x", 5000) != NATS_OK) {
      throw std::runtime_error("raw request failed");
    }
    natsMsg_Destroy(reply);
  };
  for (int i = 0; i < n / 10; ++i) once();  // warm up
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) once();
  const double mean = us_since(start) / n;
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(requester);
  natsConnection_Destroy(replier);
  return mean;
}

// Raw libnats: messages per second from one publisher to one subscriber, all received.
double raw_throughput(const std::string& url, int n) {
  natsConnection* receiver = connect(url, false);
  natsConnection* sender = connect(url, false);
  static std::atomic<int> received;
  received = 0;
  natsSubscription* sub = nullptr;
  natsConnection_Subscribe(&sub, receiver, "bench.sink",
                           [](natsConnection*, natsSubscription*, natsMsg* m, void*) {
                             received.fetch_add(1);
                             natsMsg_Destroy(m);
                           },
                           nullptr);
  natsSubscription_SetPendingLimits(sub, -1, -1);
  natsConnection_Flush(receiver);
  const std::string payload = "seq tag 1234567";
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) natsConnection_Publish(sender, "bench.sink", payload.data(), static_cast<int>(payload.size()));
  natsConnection_Flush(sender);
  while (received.load() < n) std::this_thread::sleep_for(100us);
  const double rate = n / (us_since(start) / 1e6);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(sender);
  natsConnection_Destroy(receiver);
  return rate;
}

struct Node {
  std::shared_ptr<cluster::Cluster> cluster;
  std::unique_ptr<Runtime> runtime;
};

Node join(const std::string& url, const std::string& name, bool send_asap, const std::string& cluster_name,
          bool run_on_arrival = true) {
  Node n;
  RuntimeConfig rc;
  rc.workers = 1;
  n.runtime = std::make_unique<Runtime>(rc);
  cluster::ClusterConfig cc;
  cc.nats_url = url;
  cc.node_name = name;
  cc.cluster_name = cluster_name;
  cc.send_asap = send_asap;
  cc.run_on_arrival = run_on_arrival;
  n.cluster = cluster::Cluster::join(*n.runtime, cc);
  return n;
}

Manifest examples(const std::string& name) { return load_manifest(std::filesystem::path(THEATER_BUILD_DIR) / "examples" / (name + ".toml")); }

struct TheaterNumbers {
  double round_trip_us = 0, sends_per_s = 0;
};

TheaterNumbers theater_numbers(const std::string& url, int round_trips, int sends, bool send_asap,
                               bool run_on_arrival = true) {
  const std::string cluster_name = !run_on_arrival ? "handoff" : send_asap ? "asap" : "buffered";
  auto a = join(url, "a", send_asap, cluster_name, run_on_arrival);
  auto b = join(url, "b", send_asap, cluster_name, run_on_arrival);
  TheaterNumbers out;
  auto seq = examples("sequencer");
  const auto asker = a.runtime->spawn(seq);
  const auto echo = b.runtime->spawn(examples("echo"));
  a.runtime->request(asker, fmt::format("rtt {} {}", echo, round_trips / 10), 60s);  // warm up
  auto r = a.runtime->request(asker, fmt::format("rtt {} {}", echo, round_trips), 120s);
  long long n = 0, ms = 0;
  if (r.rc != abi::kOk || std::sscanf(r.reply.c_str(), "%lld %lld", &n, &ms) != 2) {
    throw std::runtime_error("rtt failed: " + std::string(abi::rc_name(r.rc)) + " " + r.reply);
  }
  out.round_trip_us = ms * 1000.0 / n;
  const auto checker = b.runtime->spawn(seq);
  const auto start = Clock::now();
  a.runtime->send(asker, fmt::format("burst {} a {}", checker, sends));
  const std::string done = fmt::format("received={} violations=0", sends);
  for (std::string report; report != done;) {
    report = b.runtime->request(checker, "report", 10s).reply;
    if (report.find("violations=0") == std::string::npos) throw std::runtime_error("order violated: " + report);
    if (us_since(start) > 120e6) throw std::runtime_error("sends did not arrive: " + report);
    if (report != done) std::this_thread::sleep_for(200us);
  }
  out.sends_per_s = sends / (us_since(start) / 1e6);
  b.runtime.reset();
  a.runtime.reset();
  return out;
}

double failover_ms(const std::string& url) {
  test::ChildProcess n1({std::string(THEATER_BUILD_DIR) + "/theater", "run",
                         std::string(THEATER_BUILD_DIR) + "/examples/counter.toml", "--cluster", url, "--node",
                         "n1", "--json", "--sync-state", "--workers", "1"},
                        test::temp_log("theater-node"));
  auto line = n1.wait_for_line("\"type\":\"started\"", 60s);
  const auto at = line.find("\"actor\":\"");
  if (at == std::string::npos) throw std::runtime_error("node n1 did not start: " + n1.output());
  const auto id = line.substr(at + 9, line.find('"', at + 9) - at - 9);
  auto t = join(url, "t", true, "theater");  // the cluster `theater run --cluster` joins
  t.runtime->request(id, "add 1", 5s);
  n1.signal(SIGKILL);
  const auto start = Clock::now();
  while (t.runtime->request(id, "get", 1s).rc != abi::kOk) {
    if (us_since(start) > 30e6) throw std::runtime_error("no failover within 30 s");
    std::this_thread::sleep_for(5ms);
  }
  const double ms = us_since(start) / 1000;
  t.runtime.reset();
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  const int round_trips = argc > 1 ? std::atoi(argv[1]) : 5000;
  const int sends = argc > 2 ? std::atoi(argv[2]) : 100000;
  try {
    test::NatsServer server;
    const auto url = server.url();
    const double raw_rtt = raw_round_trip(url, round_trips);
    const double raw_rate = raw_throughput(url, sends);
    const auto asap = theater_numbers(url, round_trips, sends, true);
    const auto buffered = theater_numbers(url, round_trips, sends, false);
    const auto handoff = theater_numbers(url, round_trips, sends, true, false);
    const double failover = failover_ms(url);
    auto pct = [](double theater, double raw) { return fmt::format("{:+.0f}%", (theater / raw - 1) * 100); };
    fmt::print("cluster benchmark: two nodes, one nats-server on loopback, {} round trips, {} sends\n\n",
               round_trips, sends);
    fmt::print("{:<44} {:>14} {:>14} {:>9}\n", "", "raw libnats", "Theater", "vs raw");
    fmt::print("{:<44} {:>11.1f} us {:>11.1f} us {:>9}\n", "request round trip (send_asap, default)", raw_rtt,
               asap.round_trip_us, pct(asap.round_trip_us, raw_rtt));
    fmt::print("{:<44} {:>11.1f} us {:>11.1f} us {:>9}\n", "request round trip (send_asap = false)", raw_rtt,
               buffered.round_trip_us, pct(buffered.round_trip_us, raw_rtt));
    fmt::print("{:<44} {:>11.1f} us {:>11.1f} us {:>9}\n", "request round trip (run_on_arrival = false)", raw_rtt,
               handoff.round_trip_us, pct(handoff.round_trip_us, raw_rtt));
    fmt::print("{:<44} {:>9.0f} msg/s {:>9.0f} msg/s {:>9}\n", "send throughput, in order (send_asap)", raw_rate,
               asap.sends_per_s, pct(asap.sends_per_s, raw_rate));
    fmt::print("{:<44} {:>9.0f} msg/s {:>9.0f} msg/s {:>9}\n", "send throughput, in order (send_asap = false)",
               raw_rate, buffered.sends_per_s, pct(buffered.sends_per_s, raw_rate));
    fmt::print("{:<44} {:>14} {:>11.0f} ms\n", "failover: kill -9 -> answer (hb 250 ms x 4)", "", failover);
    fmt::print("\nraw: natsConnection_Request to a send-asap replier; natsConnection_Publish to one subscriber.\n"
               "Theater: actor -> actor on another node (request to echo; a burst checked for order).\n"
               "run_on_arrival = false: a message from another node is handed to a worker thread.\n");
  } catch (const std::exception& e) {
    fmt::print(stderr, "cluster bench: {}\n", e.what());
    return 1;
  }
  return 0;
}
