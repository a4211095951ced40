#include "cli/tree_view.hpp"

#include <gtest/gtest.h>

namespace theater::cli {
namespace {

TEST(TreeView, DrawsChildrenUnderTheirParentInStartOrder) {
  std::map<std::string, TreeRow> rows;
  rows["sup-1"] = {"sup-1", "supervisor", "running", 0, 0, 0, {"a-1", "b-1"}};
  rows["a-1"] = {"a-1", "counter", "running", 0, 2, 8, {}};
  rows["b-1"] = {"b-1", "crasher", "failed", 3, 0, 0, {"c-1"}};
  rows["c-1"] = {"c-1", "leaf", "starting", 0, 0, 0, {}};
  const std::string out = render_tree(rows, {"sup-1"}, false);
  EXPECT_EQ(out,
            "runtime\n"
            "└─ supervisor     running    state 0 B  sup-1\n"
            "   ├─ counter     running    mailbox 2  state 8 B  a-1\n"
            "   └─ crasher     failed     restarts 3  state 0 B  b-1\n"
            "      └─ leaf     starting   state 0 B  c-1\n");
}

TEST(TreeView, NamesMissingActorsAndEmptyTrees) {
  EXPECT_EQ(render_tree({}, {}, false), "runtime\n└─ (no actors)\n");
  EXPECT_EQ(render_tree({}, {"x-1"}, false), "runtime\n└─ x-1  (gone)\n");
}

}  // namespace
}  // namespace theater::cli
