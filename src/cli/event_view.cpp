#include "cli/event_view.hpp"

#include <ctime>

#include <fmt/chrono.h>
#include <fmt/color.h>
#include <fmt/format.h>

namespace theater::cli {

namespace {

fmt::text_style style_for(const std::string& type, bool color) {
  if (!color) return {};
  if (type == "failed" || type == "escalated" || type == "tree-stopped" || type == "intensity") {
    return fmt::fg(fmt::color::red) | fmt::emphasis::bold;
  }
  if (type == "restarting" || type == "restarted" || type == "decision") return fmt::fg(fmt::color::yellow);
  if (type == "started" || type == "created") return fmt::fg(fmt::color::green);
  if (type == "stopped" || type == "exited") return fmt::fg(fmt::color::cyan);
  return {};
}

}  // namespace

std::string format_event(const Event& e, bool color) {
  const auto ms = std::chrono::milliseconds(e.time_ms);
  const std::time_t secs = static_cast<std::time_t>(e.time_ms / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  return fmt::format("{:%H:%M:%S}.{:03d}  {:<28} {}  {}", tm, static_cast<int>(ms.count() % 1000),
                     e.actor, fmt::format(style_for(e.type, color), "{:<12}", e.type), e.detail);
}

}  // namespace theater::cli
