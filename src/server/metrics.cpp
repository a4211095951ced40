// GET /metrics: Prometheus text format 0.0.4. Counters of the hot path come from
// base/counters.hpp (process-wide), failures/restarts/events from the EventHub, the rest is read
// from the runtime when scraped.
#include <httplib.h>

#include <fmt/format.h>

#include "base/counters.hpp"
#include "server/server.hpp"

namespace theater::server {

namespace {

std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void by_label(std::string& out, std::string_view name, std::string_view key,
              const std::map<std::string, uint64_t>& values, std::initializer_list<std::string_view> always) {
  std::map<std::string, uint64_t> all(values);
  for (auto k : always) all.emplace(std::string(k), 0);
  for (const auto& [k, v] : all) out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, key, label(k), v);
}

}  // namespace

std::string render_metrics(Server& server) {
  Runtime& runtime = server.runtime();
  std::string out;
  const auto actors = runtime.list();

  family(out, "theater_actors", "gauge", "Live actors by state.");
  std::map<std::string, uint64_t> by_state;
  for (const auto& a : actors) ++by_state[to_string(a.status)];
  by_label(out, "theater_actors", "state", by_state, {"starting", "running", "failed", "stopping", "stopped"});

  const auto& c = runtime_counters();
  family(out, "theater_messages_sent_total", "counter", "Messages accepted into a mailbox (process-wide).");
  out += fmt::format("theater_messages_sent_total {}\n", c.messages_sent.value());
  family(out, "theater_messages_refused_total", "counter", "Messages refused because the mailbox was full.");
  out += fmt::format("theater_messages_refused_total{{reason=\"EFULL\"}} {}\n", c.messages_refused.value());
  family(out, "theater_messages_handled_total", "counter", "Messages a handler ran for.");
  out += fmt::format("theater_messages_handled_total {}\n", c.messages_handled.value());
  family(out, "theater_send_drain_waits_total", "counter", "Times a sender waited for its receiver's backlog to drain.");
  out += fmt::format("theater_send_drain_waits_total {}\n", c.drain_waits.value());
  family(out, "theater_send_drain_wakes_total", "counter", "Waiting senders that their drained receiver woke.");
  out += fmt::format("theater_send_drain_wakes_total {}\n", c.drain_wakes.value());

  family(out, "theater_mailbox_depth", "gauge", "Messages waiting in each actor's mailbox.");
  size_t total_depth = 0;
  for (const auto& a : actors) {
    total_depth += a.mailbox;
    out += fmt::format("theater_mailbox_depth{{actor=\"{}\",name=\"{}\"}} {}\n", label(a.id), label(a.name), a.mailbox);
  }
  family(out, "theater_mailbox_depth_sum", "gauge", "Messages waiting in all mailboxes.");
  out += fmt::format("theater_mailbox_depth_sum {}\n", total_depth);

  const auto stats = server.hub().stats();
  family(out, "theater_failures_total", "counter", "Actor failures by kind.");
  by_label(out, "theater_failures_total", "kind", stats.failures_by_kind, {"trap", "error", "timeout", "memory", "escalated"});
  family(out, "theater_restarts_total", "counter",
          "Restarts by the kind of failure that caused them (manual: asked by a client; scope: with a sibling).");
  by_label(out, "theater_restarts_total", "kind", stats.restarts_by_kind, {"trap", "error", "timeout", "memory", "manual"});

  const auto h = c.handler_latency.snapshot();
  family(out, "theater_handler_duration_seconds", "histogram", "Time from a handler's start to its end (one message in 16 is timed).");
  uint64_t cumulative = 0;
  for (size_t b = 0; b < LatencyHistogram::kBounds.size(); ++b) {
    cumulative += h.counts[b];
    out += fmt::format("theater_handler_duration_seconds_bucket{{le=\"{}\"}} {}\n", LatencyHistogram::kBounds[b], cumulative);
  }
  out += fmt::format("theater_handler_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", h.total);
  out += fmt::format("theater_handler_duration_seconds_sum {}\n", h.sum_seconds);
  out += fmt::format("theater_handler_duration_seconds_count {}\n", h.total);

  family(out, "theater_chain_events_total", "counter", "Events recorded in actors' histories, by type.");
  by_label(out, "theater_chain_events_total", "type", stats.events_by_type, {});

  const auto es = runtime.engine().stats();
  family(out, "theater_compile_cache_hits_total", "counter", "Modules served from the on-disk compile cache.");
  out += fmt::format("theater_compile_cache_hits_total {}\n", es.cache_hits);
  family(out, "theater_compiles_total", "counter", "Modules compiled by the C compiler.");
  out += fmt::format("theater_compiles_total {}\n", es.compiles);
  family(out, "theater_module_memory_hits_total", "counter", "Modules served from the in-process map.");
  out += fmt::format("theater_module_memory_hits_total {}\n", es.memory_hits);

  family(out, "theater_event_streams", "gauge", "Open event streams (SSE).");
  out += fmt::format("theater_event_streams {}\n", server.hub().streams());
  family(out, "theater_server_uptime_seconds", "gauge", "Seconds since the server started.");
  out += fmt::format("theater_server_uptime_seconds {}\n",
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - server.started_at()).count());
  return out;
}

void add_metrics_routes(httplib::Server& http, Server& server) {
  http.Get("/metrics", [&server](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_metrics(server), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace theater::server
