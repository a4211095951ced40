#pragma once
// The supervision tree drawn for people: one line per actor, indented under its parent, with its
// state and restart count. Used by `theater run` (from a live Runtime) and by any client that
// has the same facts (e.g. from the server's JSON).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace theater::cli {

struct TreeRow {
  std::string id, name, status;
  uint32_t restarts = 0;
  size_t mailbox = 0;
  size_t state_bytes = 0;
  std::vector<std::string> children;  // ids, in start order
};

// Draws `roots` (top-level actor ids, in start order) and everything under them, below a first
// line naming the root ("runtime"). Rows missing from `rows` are shown as "(gone)". Colours
// (ANSI) only when `color`.
std::string render_tree(const std::map<std::string, TreeRow>& rows,
                        const std::vector<std::string>& roots, bool color);

}  // namespace theater::cli
