#pragma once
// Rewrites a validated module so that the host keeps control of it, on every engine tier:
//  - a mutable i32 global, exported as kFuelExport ("__theater_fuel"), is checked on every
//    branch back to a loop head (unless the iteration already passed a check) and before every
//    call that closes a cycle of calls, calls the host, or calls through a table that may hold
//    a function that calls (instrument.cpp's CallTargets; other calls run bounded code); when
//    it is below zero the code calls the imported host function theater.__fuel_exhausted (i32
//    remaining) -> i32, which returns the new fuel and may also yield the actor or fail the call with a
//    Timeout trap. This is how runaway handlers end and how long ones are preempted. Only a
//    function with loops and no calls spends fuel: one unit per iteration, counted in a local of
//    its own that it stores back to the global before it returns. Before any check goes in,
//    small loops are unrolled and small self-recursive functions copied (unroll.hpp), so the
//    hottest code passes a check every 4 or 8 iterations or levels (and an unrolled loop's
//    check takes as many units). A function that calls only
//    reads the global: the host makes it negative (Instance::interrupt, which the scheduler's
//    watchdog calls on a turn past its time slice), or a loop it called used the fuel up.
//  - every memory.grow becomes a call to theater.__memory_grow (i32) -> i32, so the host enforces
//    the actor's memory limit (growing past it is a failure, not a -1) on every tier.
// The two imports are added before the module's own function imports' indices are used, and every
// function index in the module (calls, exports, elements, start, ref.func) is renumbered.
// Deterministic: the same input gives the same bytes (the AOT cache keys on them).
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace theater::engine {

struct InstrumentStats {
  uint32_t fuel_checks = 0;   // calls + branches back to loop heads instrumented
  uint32_t grows_routed = 0;  // memory.grow instructions rewritten
  uint32_t loops_unrolled = 0;    // (unroll.hpp)
  uint32_t functions_cloned = 0;  // self-recursive functions given copies (unroll.hpp)
};

struct InstrumentOptions {
  // false: the imports and the global are added but no checks are planted, so code runs without
  // deadlines or preemption. Only for measuring what the checks cost (the engine benchmark).
  bool fuel_checks = true;
  // false: no loop is unrolled and no function copied (unroll.hpp), so the checks sit exactly
  // where the rules above put them in the module as written (tests of those rules).
  bool unroll = true;
};

// Throws LoadError (naming `label`) if the input cannot be parsed or the output does not validate.
std::vector<uint8_t> instrument(std::span<const uint8_t> wasm, std::string_view label,
                                InstrumentStats* stats = nullptr, InstrumentOptions options = {});

}  // namespace theater::engine
