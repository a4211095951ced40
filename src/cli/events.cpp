// theater events <actor> --data DIR: an actor's event chain as stored, oldest first, filtered by
// type and time; --json prints one JSON object per event with its payload decoded.
#include <ctime>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/data_dir.hpp"

namespace theater::cli {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A time as ms since the epoch: "1700000000000" (ms), "-10m" (ago: s, m, h, d), or
// "2024-05-01T12:00:00" (UTC, a trailing Z allowed).
int64_t parse_time(const std::string& text) {
  if (text.empty()) throw state::StoreError("empty time");
  if (text[0] == '-' && text.size() > 2) {
    const char unit = text.back();
    const int64_t n = std::stoll(text.substr(1, text.size() - 2));
    const int64_t scale = unit == 's' ? 1000 : unit == 'm' ? 60000 : unit == 'h' ? 3600000 : unit == 'd' ? 86400000 : 0;
    if (scale == 0) throw state::StoreError(fmt::format("time '{}': the unit must be s, m, h or d", text));
    return now_ms() - n * scale;
  }
  if (text.find_first_not_of("0123456789") == std::string::npos) return std::stoll(text);
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end || (*end != '\0' && std::string_view(end) != "Z")) {
    throw state::StoreError(fmt::format("time '{}': expected ms since the epoch, -10m, or 2024-05-01T12:00:00", text));
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::string format_time(int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:03d}", buf, static_cast<int>(ms % 1000));
}

}  // namespace

void add_events_command(CLI::App& app) {
  struct Options {
    ActorArgs actor;
    std::vector<std::string> types;
    std::string since, until;
    uint64_t after = 0;
    size_t limit = SIZE_MAX;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("events", "An actor's event chain (created, init, received, committed, ...)");
  add_actor_args(cmd, o->actor, false);
  cmd->add_option("--type", o->types, "Only events of this type (repeatable): created, init, received, sent, "
                                       "request, replied, host, committed, failure, restart, upgrade, rollback, "
                                       "stop, call, note");
  cmd->add_option("--since", o->since, "Only events at or after: ms since the epoch, -10m, or 2024-05-01T12:00:00 (UTC)");
  cmd->add_option("--until", o->until, "Only events at or before (same forms)");
  cmd->add_option("--after-seq", o->after, "Only events after this sequence number");
  cmd->add_option("--limit", o->limit, "At most this many events");
  cmd->add_flag("--json", o->json, "One JSON object per event, payload decoded");
  cmd->callback([o] {
    guarded([&] {
      auto store = open_store(o->actor);
      state::EventFilter f;
      for (const auto& t : o->types) {
        auto type = state::event_type_named(t);
        if (!type) throw state::StoreError(fmt::format("no event type '{}'", t));
        f.types.push_back(*type);
      }
      if (!o->since.empty()) f.since_ms = parse_time(o->since);
      if (!o->until.empty()) f.until_ms = parse_time(o->until);
      f.after_seq = o->after;
      f.limit = o->limit;
      for (const auto& id : resolve_actors(*store, o->actor)) {
        for (const auto& e : store->events(id, f)) {
          if (o->json) {
            auto j = state::describe(e);
            j["actor"] = id;
            std::cout << j.dump() << '\n';
          } else {
            std::cout << fmt::format("{:>6}  {}  {:<9}  {}\n", e.seq, format_time(e.time_ms), state::to_string(e.type),
                                     state::summary(e));
          }
        }
      }
      std::cout.flush();
      return 0;
    });
  });
}

}  // namespace theater::cli
