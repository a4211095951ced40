#include "cli/tree_view.hpp"

#include <fmt/color.h>
#include <fmt/format.h>

namespace theater::cli {

namespace {

fmt::text_style status_style(const std::string& status, bool color) {
  if (!color) return {};
  if (status == "running") return fmt::fg(fmt::color::green);
  if (status == "failed") return fmt::fg(fmt::color::red) | fmt::emphasis::bold;
  if (status == "starting" || status == "stopping") return fmt::fg(fmt::color::yellow);
  return fmt::fg(fmt::color::gray);
}

void draw(const std::map<std::string, TreeRow>& rows, const std::string& id,
          const std::string& indent, bool last, bool color, int depth, std::string& out) {
  out += indent;
  out += last ? "└─ " : "├─ ";
  auto it = rows.find(id);
  if (it == rows.end()) {
    out += fmt::format("{}  (gone)\n", id);
    return;
  }
  const TreeRow& r = it->second;
  out += fmt::format("{:<{}} {}", r.name, std::max(1, 14 - 3 * depth),
                     fmt::format(status_style(r.status, color), "{:<9}", r.status));
  if (r.restarts) out += fmt::format("  restarts {}", r.restarts);
  if (r.mailbox) out += fmt::format("  mailbox {}", r.mailbox);
  out += fmt::format("  state {} B  {}\n", r.state_bytes, r.id);
  // A cycle cannot happen in a tree; the depth bound only keeps a corrupt input from recursing.
  if (depth > 64) return;
  const std::string below = indent + (last ? "   " : "│  ");
  for (size_t i = 0; i < r.children.size(); ++i) {
    draw(rows, r.children[i], below, i + 1 == r.children.size(), color, depth + 1, out);
  }
}

}  // namespace

std::string render_tree(const std::map<std::string, TreeRow>& rows,
                        const std::vector<std::string>& roots, bool color) {
  std::string out = "runtime\n";
  for (size_t i = 0; i < roots.size(); ++i) draw(rows, roots[i], "", i + 1 == roots.size(), color, 0, out);
  if (roots.empty()) out += "└─ (no actors)\n";
  return out;
}

}  // namespace theater::cli
