// Properties of instrument() on random modules (rapidcheck): functions that call each other,
// directly, through a table and through the host, in loops and branches, leaves among them.
//  - Safety, read back from the output by a checker of its own: every loop's back edge runs a
//    check in the iteration that takes it; every cycle of calls (the host may call back into any
//    export) holds a call that a check in the same activation covers; and the calls no check
//    covers reach at most 16 activations. Together: code between two checks runs for a bounded
//    time, so the watchdog's interrupt and the deadline always reach it.
//  - Meaning: the instrumented module computes what the original does (wabt's interpreter runs
//    both; recursion is bounded by a budget the functions count down).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>  // (after gtest.h, which it uses)

#include <wabt/cast.h>

#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "engine/engine.hpp"
#include "engine/instrument.hpp"
#include "engine/wabt_util.hpp"
#include "support/wat.hpp"

namespace theater::engine {
namespace {

using wabt::cast;
using wabt::Index;

// ---- random modules ----------------------------------------------------------------------------

// Every function is (func): it returns at once when the budget is spent, else spends one unit,
// folds its index into $trace, and runs a random body. Loops count down a local of their own.
// Half the modules call only onwards (f3 calls f4..., never back): no cycle, but calls that
// multiply down the layers.
class ModuleWriter {
 public:
  explicit ModuleWriter(int most_functions)
      : onwards_(*rc::gen::arbitrary<bool>()),
        functions_(*rc::gen::inRange(onwards_ ? most_functions / 2 : 1, most_functions)) {}

  std::string module() {
    std::ostringstream out;
    out << "(module\n  (type $v (func))\n  (import \"env\" \"host\" (func $host))\n"
        << "  (global $budget (mut i32) (i32.const 300))\n  (global $trace (mut i32) (i32.const 0))\n";
    std::vector<int> in_table;
    for (int f = 0; f < functions_; ++f) {
      if (*rc::gen::inRange(0, 3) == 0) in_table.push_back(f);
    }
    out << "  (table " << in_table.size() + 1 << " funcref)\n";
    if (!in_table.empty()) {
      out << "  (elem (i32.const 0)";
      for (int f : in_table) out << " $f" << f;
      out << ")\n";
    }
    table_size_ = static_cast<int>(in_table.size());
    for (int f = 0; f < functions_; ++f) {
      loops_ = 0;
      current_ = f;
      open_loops_.clear();
      std::string body = statements(*rc::gen::inRange(onwards_ ? 2 : 0, onwards_ ? 7 : 5), 0);
      out << "  (func $f" << f << (f == 0 || *rc::gen::inRange(0, 3) == 0 ? " (export \"f" + std::to_string(f) + "\")" : "")
          << " (type $v)";
      for (int l = 0; l < loops_; ++l) out << " (local i32)";
      out << "\n    (if (i32.le_s (global.get $budget) (i32.const 0)) (then (return)))\n"
          << "    (global.set $budget (i32.sub (global.get $budget) (i32.const 1)))\n"
          << "    (global.set $trace (i32.add (i32.mul (global.get $trace) (i32.const 31)) (i32.const " << f + 1
          << ")))\n"
          << body << "  )\n";
    }
    out << "  (func (export \"trace\") (result i32) (global.get $trace)))\n";
    return out.str();
  }

 private:
  std::string statements(int count, int depth) {
    std::string out;
    for (int i = 0; i < count; ++i) out += statement(depth);
    return out;
  }

  std::string statement(int depth) {
    // (deeper down: calls, and branches out of or round the loops it is in, but no more nesting)
    int kind = depth < 2 ? *rc::gen::inRange(0, 9) : *rc::gen::element(0, 1, 2, 3, 7, 8);
    // In a loop, half the statements make no call, so that many loops are unrolled (unroll.hpp).
    if (!open_loops_.empty() && *rc::gen::arbitrary<bool>()) kind = depth < 2 ? *rc::gen::element(6, 7, 8) : *rc::gen::element(7, 8);
    switch (kind) {
      case 0:
      case 1: {
        if (onwards_ && current_ + 1 >= functions_) return "    (nop)\n";
        const int callee = *rc::gen::inRange(onwards_ ? current_ + 1 : 0, functions_);
        return "    (call $f" + std::to_string(callee) + ")\n";
      }
      case 2:
        if (onwards_) return statement(depth);  // (a table may hold any function: no onwards)
        if (table_size_ == 0) return "    (nop)\n";
        return "    (call_indirect (type $v) (i32.const " + std::to_string(*rc::gen::inRange(0, table_size_)) + "))\n";
      case 3:
        if (onwards_) return statement(depth);  // (a host call's check would cover the calls after it)
        return "    (call $host)\n";
      // Loops run up to 19 rounds, so that an unrolled one (unroll.hpp) leaves from each of its
      // copies; each has a block around it that a branch out of the middle of its body reaches.
      case 4: {  // do-while: the back edge is a br_if
        const int c = loops_++;
        const std::string n = std::to_string(c), body = loop_body(c, depth);
        return "    (local.set " + n + " (i32.const " + std::to_string(*rc::gen::inRange(1, 20)) + "))\n    (block $b" + n +
               " (loop $l" + n + "\n" + body + "    (br_if $l" + n + " (local.get " + n + "))))\n";
      }
      case 5: {  // while: the exit is a br_if, the back edge a br
        const int c = loops_++;
        const std::string n = std::to_string(c), body = loop_body(c, depth);
        return "    (local.set " + n + " (i32.const " + std::to_string(*rc::gen::inRange(0, 20)) + "))\n    (block $b" + n +
               " (loop $l" + n + "\n    (br_if $b" + n + " (i32.eqz (local.get " + n + ")))\n" + body + "    (br $l" + n +
               ")))\n";
      }
      case 7: {  // leave an enclosing loop from the middle of its body, in some round
        if (open_loops_.empty()) return "    (nop)\n";
        const std::string n = std::to_string(open_loops_[*rc::gen::inRange<size_t>(0, open_loops_.size())]);
        return "    (br_if $b" + n + " (i32.eq (local.get " + n + ") (i32.const " + std::to_string(*rc::gen::inRange(0, 12)) +
               ")))\n";
      }
      case 8: {  // go round an enclosing loop early, in some round (counting it, so it ends)
        if (open_loops_.empty()) return "    (nop)\n";
        const std::string n = std::to_string(open_loops_[*rc::gen::inRange<size_t>(0, open_loops_.size())]);
        return "    (if (i32.eq (local.get " + n + ") (i32.const " + std::to_string(*rc::gen::inRange(2, 12)) +
               ")) (then (local.set " + n + " (i32.sub (local.get " + n + ") (i32.const 1))) (br $l" + n + ")))\n";
      }
      default:
        return "    (if (i32.and (global.get $budget) (i32.const 1)) (then\n" + statements(*rc::gen::inRange(0, 3), depth + 1) +
               "    ) (else\n" + statements(*rc::gen::inRange(0, 2), depth + 1) + "    ))\n";
    }
  }

  // A loop's statements (in which branches may leave it or go round), then its count folded into
  // $trace (so the rounds run show in the result) and counted down in its own local.
  std::string loop_body(int local, int depth) {
    const std::string n = std::to_string(local);
    open_loops_.push_back(local);
    std::string body = statements(*rc::gen::inRange(0, 3), depth + 1);
    open_loops_.pop_back();
    return body + "    (global.set $trace (i32.add (i32.mul (global.get $trace) (i32.const 7)) (local.get " + n +
           ")))\n    (local.set " + n + " (i32.sub (local.get " + n + ") (i32.const 1)))\n";
  }

  bool onwards_;
  int functions_;
  int current_ = 0;
  int table_size_ = 0;
  int loops_ = 0;
  std::vector<int> open_loops_;  // the loops the statement being written is in, by local
};

// ---- the checker -------------------------------------------------------------------------------

constexpr Index kFuelImport = 0;  // instrument() puts theater.__fuel_exhausted first
constexpr Index kGrowImport = 1;

// A fuel check, as instrument() plants them: an `if` whose arm calls the fuel import.
bool is_check(const wabt::Expr& e) {
  if (e.type() != wabt::ExprType::If) return false;
  for (const auto& inner : cast<wabt::IfExpr>(&e)->true_.exprs) {
    if (inner.type() == wabt::ExprType::Call && cast<wabt::CallExpr>(&inner)->var.index() == kFuelImport) return true;
  }
  return false;
}

struct CallSite {
  Index caller;
  std::vector<Index> callees;  // kHost: the host
  bool covered;
};
constexpr Index kHost = ~Index{0};

class Checker {
 public:
  explicit Checker(const wabt::Module& m) : m_(m) {
    for (const wabt::ElemSegment* seg : m.elem_segments) {
      for (const auto& list : seg->elem_exprs) {
        for (const auto& e : list) {
          if (e.type() == wabt::ExprType::RefFunc) table_.insert(cast<wabt::RefFuncExpr>(&e)->var.index());
        }
      }
    }
    for (Index f = m.num_func_imports; f < m.funcs.size(); ++f) {
      lists_.clear();
      walk(f, m.funcs[f]->exprs, false);
    }
  }

  std::vector<std::string> problems;

  // Every cycle of uncovered calls between functions that call, and through the host.
  void expect_no_unchecked_cycle() {
    std::map<Index, std::vector<Index>> edges;
    for (const auto& site : sites_) {
      if (site.covered) continue;
      for (Index callee : site.callees) {
        if (callee == kHost || makes_calls(callee)) edges[site.caller].push_back(callee);
      }
    }
    for (const wabt::Export* ex : m_.exports) {  // the host calls back into exports
      if (ex->kind == wabt::ExternalKind::Func) edges[kHost].push_back(m_.GetFuncIndex(ex->var));
    }
    std::map<Index, int> state;  // 1 open, 2 done
    std::function<void(Index)> visit = [&](Index f) {
      state[f] = 1;
      for (Index g : edges[f]) {
        if (state[g] == 1) problems.push_back("a cycle of unchecked calls through function " + std::to_string(f));
        if (state[g] == 0) visit(g);
      }
      state[f] = 2;
    };
    for (auto& [f, _] : edges) {
      if (state[f] == 0) visit(f);
    }
  }

  // What the uncovered direct calls reach from any function, in activations.
  void expect_bounded_unchecked_calls(uint64_t bound) {
    std::map<Index, uint64_t> memo;
    std::function<uint64_t(Index)> reach = [&](Index f) -> uint64_t {
      if (auto it = memo.find(f); it != memo.end()) return it->second;
      memo[f] = 0;  // (cycles are the other property's failure)
      uint64_t total = 1;
      for (const auto& site : sites_) {
        if (site.caller != f || site.covered || site.callees.size() != 1 || site.callees[0] == kHost) continue;
        if (makes_calls(site.callees[0])) total += reach(site.callees[0]);
      }
      return memo[f] = total;
    };
    for (Index f = m_.num_func_imports; f < m_.funcs.size(); ++f) {
      if (reach(f) > bound) problems.push_back("function " + std::to_string(f) + " reaches " + std::to_string(reach(f)) + " activations unchecked");
    }
  }

 private:
  struct List {
    bool loop;     // the body of a loop (a branch to its label goes round)
    bool checked;  // a check at its top level so far
  };

  bool makes_calls(Index f) const {
    if (f < m_.num_func_imports) return true;
    return calling_.count(f) != 0;
  }

  void walk(Index f, const wabt::ExprList& list, bool loop) {
    lists_.push_back({loop, false});
    for (const auto& e : list) {
      if (is_check(e)) {
        lists_.back().checked = true;
        continue;
      }
      auto covered_from = [&](size_t from) {
        for (size_t i = from; i < lists_.size(); ++i) {
          if (lists_[i].checked) return true;
        }
        return false;
      };
      auto branch = [&](Index depth) {
        if (depth >= lists_.size()) return;
        const size_t at = lists_.size() - 1 - depth;
        if (lists_[at].loop && !covered_from(at)) {
          problems.push_back("function " + std::to_string(f) + ": a back edge with no check in its iteration");
        }
      };
      switch (e.type()) {
        case wabt::ExprType::Br: branch(cast<wabt::BrExpr>(&e)->var.index()); break;
        case wabt::ExprType::BrIf: branch(cast<wabt::BrIfExpr>(&e)->var.index()); break;
        case wabt::ExprType::BrTable: {
          const auto* t = cast<wabt::BrTableExpr>(&e);
          branch(t->default_target.index());
          for (const auto& v : t->targets) branch(v.index());
          break;
        }
        case wabt::ExprType::Call: {
          const Index callee = cast<wabt::CallExpr>(&e)->var.index();
          if (callee == kFuelImport || callee == kGrowImport) break;
          calling_.insert(f);
          sites_.push_back({f, {callee < m_.num_func_imports ? kHost : callee}, covered_from(0)});
          break;
        }
        case wabt::ExprType::CallIndirect:
          calling_.insert(f);
          sites_.push_back({f, {table_.begin(), table_.end()}, covered_from(0)});
          break;
        case wabt::ExprType::Block: walk(f, cast<wabt::BlockExpr>(&e)->block.exprs, false); break;
        case wabt::ExprType::Loop: walk(f, cast<wabt::LoopExpr>(&e)->block.exprs, true); break;
        case wabt::ExprType::If:
          walk(f, cast<wabt::IfExpr>(&e)->true_.exprs, false);
          walk(f, cast<wabt::IfExpr>(&e)->false_, false);
          break;
        default: break;
      }
    }
    lists_.pop_back();
  }

  const wabt::Module& m_;
  std::set<Index> table_;
  std::set<Index> calling_;  // functions with calls (other than to the fuel and grow imports)
  std::vector<CallSite> sites_;
  std::vector<List> lists_;
};

// The exports' results and the host calls, as wabt's interpreter prints them, without the calls
// to the fuel import (the instrumented module's own).
std::string run_without_fuel_calls(std::span<const uint8_t> wasm) {
  auto r = test::run_wabt_tool("wasm-interp", wasm, {"--run-all-exports", "--dummy-import-func"});
  std::istringstream lines(r.output);
  std::string line, out;
  while (std::getline(lines, line)) {
    if (line.find("theater.__fuel_exhausted") == std::string::npos) out += line + "\n";
  }
  return out;
}

RC_GTEST_PROP(InstrumentProperty, CodeBetweenTwoChecksIsBounded, ()) {
  ModuleWriter writer(12);
  const std::string wat = writer.module();
  const auto wasm = test::wat_to_wasm(wat);
  InstrumentStats stats;
  const auto out = instrument(wasm, "random.wat", &stats);
  RC_TAG(stats.loops_unrolled > 0 ? "loops unrolled" : "no loop unrolled");
  wabt::Module m;
  read_module(out, "instrumented", &m);
  Checker checker(m);
  checker.expect_no_unchecked_cycle();
  checker.expect_bounded_unchecked_calls(16);
  if (!checker.problems.empty()) RC_FAIL(checker.problems.front() + "\n" + wat);
}

RC_GTEST_PROP(InstrumentProperty, ComputesWhatTheOriginalComputes, ()) {
  ModuleWriter writer(7);
  const std::string wat = writer.module();
  const auto wasm = test::wat_to_wasm(wat);
  const std::string original = run_without_fuel_calls(wasm);
  RC_ASSERT(original.find("trace() => i32:") != std::string::npos);
  RC_ASSERT(run_without_fuel_calls(instrument(wasm, "random.wat")) == original);
}

}  // namespace
}  // namespace theater::engine
