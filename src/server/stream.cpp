// GET /v1/stream: the runtime's events as Server-Sent Events, for one actor (?actor=ID) or the
// whole tree, optionally only some types (?types=failed,restarted). Each event is
//   id: <hub sequence>\ndata: <event JSON>\n\n
// A reconnecting client (EventSource does it by itself) sends Last-Event-ID and misses nothing
// still in the hub's ring; if it fell further behind, an "event: gap" says so. A comment line
// every 15 s keeps idle connections open.
#include <httplib.h>

#include <fmt/format.h>

#include "server/http_util.hpp"
#include "server/server.hpp"

namespace theater::server {

namespace {

std::string sse_frame(const HubEvent& he) {
  const Event& e = he.event;
  // No "seq": observers see an event before the actor's log numbers it (Runtime::record).
  nlohmann::json j{{"id", he.id},     {"time_ms", e.time_ms}, {"actor", e.actor},
                   {"name", e.name},  {"type", e.type},       {"detail", e.detail}};
  return fmt::format("id: {}\ndata: {}\n\n", he.id, json_text(j));
}

uint64_t parse_cursor(const std::string& text, const char* what) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw ApiError(400, "bad_request", fmt::format("{} must be a non-negative integer", what));
  }
  return std::stoull(text);
}

struct StreamState {
  uint64_t cursor = 0;
  StreamFilter filter;
  bool greeted = false;
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
};

}  // namespace

void add_stream_routes(httplib::Server& http, Server& server) {
  http.Get("/v1/stream", [&server](const httplib::Request& req, httplib::Response& res) {
    auto st = std::make_shared<StreamState>();
    try {
      st->filter.actor = req.get_param_value("actor");
      if (!st->filter.actor.empty() && !server.runtime().find(st->filter.actor)) {
        throw ApiError(404, "ENOTFOUND", fmt::format("no actor '{}'", st->filter.actor));
      }
      std::string types = req.get_param_value("types");
      for (size_t pos = 0; pos <= types.size() && !types.empty();) {
        const size_t comma = std::min(types.find(',', pos), types.size());
        if (comma > pos) st->filter.types.insert(types.substr(pos, comma - pos));
        pos = comma + 1;
      }
      // Where to start: after Last-Event-ID (a reconnect), after ?since=N, else only new events.
      if (req.has_header("Last-Event-ID")) {
        st->cursor = parse_cursor(req.get_header_value("Last-Event-ID"), "Last-Event-ID");
      } else if (req.has_param("since")) {
        st->cursor = parse_cursor(req.get_param_value("since"), "'since'");
      } else {
        st->cursor = server.hub().last_id();
      }
      if (!server.hub().try_open_stream(server.config().max_streams)) {
        throw ApiError(503, "too_many_streams",
                       fmt::format("{} event streams are open already: close one, or poll GET /v1/actors/ID/events",
                                   server.config().max_streams));
      }
    } catch (const ApiError& e) {
      res.status = e.status;
      res.set_content(json_text(error_json(e.code, e.what())), "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    EventHub* hub = &server.hub();
    res.set_chunked_content_provider(
        "text/event-stream",
        [hub, st](size_t, httplib::DataSink& sink) {
          auto write = [&](const std::string& s) {
            st->last_write = std::chrono::steady_clock::now();
            return sink.write(s.data(), s.size());
          };
          if (!st->greeted) {
            st->greeted = true;
            if (!write(": theater event stream\nretry: 2000\n\n")) return false;
          }
          bool gap = false;
          auto events = hub->read(st->cursor, st->filter, 256, std::chrono::milliseconds(500), &gap);
          if (hub->closed()) {
            sink.done();
            return true;
          }
          if (gap && !write("event: gap\ndata: {\"detail\":\"some events were dropped: this client fell behind\"}\n\n")) {
            return false;
          }
          for (const auto& he : events) {
            if (!write(sse_frame(he))) return false;
          }
          if (events.empty() && std::chrono::steady_clock::now() - st->last_write > std::chrono::seconds(15)) {
            if (!write(": keep-alive\n\n")) return false;
          }
          return sink.is_writable();
        },
        [hub](bool) { hub->close_stream(); });
  });
}

}  // namespace theater::server
