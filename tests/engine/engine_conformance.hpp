#pragma once
// The engine conformance suite's fixture: the same test bodies run on every tier. The TEST_P
// cases are in engine_conformance.test.cpp; a tier is added to the suite with
//   INSTANTIATE_TEST_SUITE_P(Name, EngineConformance, ::testing::Values(Tier::...), tier_name);
// (in that file or any other test file that includes this header).
//
// Host functions are plain function pointers, so what they record goes to the HostLog that the
// fixture passes as each instance's `user` pointer.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "support/wat.hpp"

namespace theater::engine::conformance {

struct HostLog {
  std::vector<std::vector<uint64_t>> add_args;  // what host.add received, call by call
  int fuel_calls = 0;                           // calls of theater.__fuel_exhausted
  int refuels_allowed = 1 << 30;                // then the fuel handler raises Timeout
  int32_t refuel = 1000;                        // the new fuel the handler returns
  std::vector<Trap> nested_traps;               // traps of calls made from inside host functions
};

inline HostLog& log_of(Instance& inst) { return *static_cast<HostLog*>(inst.user); }

inline FuncSig sig(std::vector<ValType> params, std::vector<ValType> results) {
  return {std::move(params), std::move(results)};
}

// (i32, i32) -> i32: records its arguments, returns their (wrapping) sum.
inline uint64_t host_add(Instance& inst, const uint64_t* a) {
  log_of(inst).add_args.push_back({a[0], a[1]});
  return static_cast<uint32_t>(a[0] + a[1]);
}
// (i64) -> i64
inline uint64_t host_wide(Instance&, const uint64_t* a) { return a[0] * 2; }
// (i32) -> (): fails the call with the TrapKind given as the argument.
inline uint64_t host_raise(Instance& inst, const uint64_t* a) {
  inst.raise({static_cast<TrapKind>(a[0]), "raised by the host"});
  return 0;
}
// (i32) -> i32: calls back into the instance (export "double"), returns that + 1.
inline uint64_t host_reenter(Instance& inst, const uint64_t* a) {
  uint64_t args[] = {a[0]}, r[1] = {0};
  if (auto trap = inst.call("double", args, r)) {
    inst.raise(*trap);
    return 0;
  }
  return r[0] + 1;
}
// (i32) -> i32: a nested call that traps. Mode 0: calls "unreachable", ignores its trap and
// returns 7. Mode 1: calls "raise" with TrapKind::Exit and passes that trap on, as the ABI's
// return_bytes does with a trap in theater_alloc.
inline uint64_t host_reenter_trap(Instance& inst, const uint64_t* a) {
  uint64_t r[1] = {0};
  if (a[0] == 0) {
    if (auto trap = inst.call("unreachable", {}, r)) log_of(inst).nested_traps.push_back(*trap);
    return 7;
  }
  uint64_t args[] = {static_cast<uint64_t>(TrapKind::Exit)};
  if (auto trap = inst.call("raise", args, {})) {
    log_of(inst).nested_traps.push_back(*trap);
    inst.raise(*trap);
  }
  return 0;
}
// (i32, i32) -> (): writes a u32 into memory through the host-side view.
inline uint64_t host_poke(Instance& inst, const uint64_t* a) {
  if (!inst.write_u32(static_cast<uint32_t>(a[0]), static_cast<uint32_t>(a[1]))) {
    inst.raise({TrapKind::OutOfBounds, "poke outside memory"});
  }
  return 0;
}
// theater.__fuel_exhausted, the runtime's policy in miniature: refuel a few times, then the
// deadline has passed.
inline uint64_t host_fuel(Instance& inst, const uint64_t*) {
  HostLog& log = log_of(inst);
  if (++log.fuel_calls > log.refuels_allowed) {
    inst.raise({TrapKind::Timeout, "deadline passed"});
    return 0;
  }
  return static_cast<uint32_t>(log.refuel);
}

// Everything kModule imports. with_fuel=false leaves theater.__fuel_exhausted to the engine.
inline Linker test_linker(bool with_fuel = true) {
  Linker l;
  l.define("host", "add", sig({ValType::I32, ValType::I32}, {ValType::I32}), host_add);
  l.define("host", "wide", sig({ValType::I64}, {ValType::I64}), host_wide);
  l.define("host", "raise", sig({ValType::I32}, {}), host_raise);
  l.define("host", "reenter", sig({ValType::I32}, {ValType::I32}), host_reenter);
  l.define("host", "reenter_trap", sig({ValType::I32}, {ValType::I32}), host_reenter_trap);
  l.define("host", "poke", sig({ValType::I32, ValType::I32}, {}), host_poke);
  if (with_fuel) l.define("theater", "__fuel_exhausted", sig({ValType::I32}, {ValType::I32}), host_fuel);
  return l;
}

inline constexpr std::string_view kModule = R"((module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "wide" (func $wide (param i64) (result i64)))
  (import "host" "raise" (func $raise (param i32)))
  (import "host" "reenter" (func $reenter (param i32) (result i32)))
  (import "host" "reenter_trap" (func $reenter_trap (param i32) (result i32)))
  (memory (export "memory") 1 10)
  (table 4 funcref)
  (elem (i32.const 0) $double $rec_indirect)
  (elem (i32.const 3) $rec_indirect0)
  (type $v_i (func (result i32)))
  (type $i_i (func (param i32) (result i32)))
  (func $double (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "add") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "add_twice") (param i32 i32 i32) (result i32)
    (call $add (call $add (local.get 0) (local.get 1)) (local.get 2)))
  (func (export "wide") (param i64) (result i64) (call $wide (local.get 0)))
  (func (export "sub64") (param i64 i64) (result i64) (i64.sub (local.get 0) (local.get 1)))
  (func (export "neg") (param i32) (result i32) (i32.sub (i32.const 0) (local.get 0)))
  (func (export "raise") (param i32)
    (call $raise (local.get 0))
    (i32.store (i32.const 0) (i32.const 1)))
  (func (export "reenter") (param i32) (result i32) (call $reenter (local.get 0)))
  (func (export "reenter_trap") (param i32) (result i32)
    (i32.add (call $reenter_trap (local.get 0)) (i32.const 100)))
  (func (export "unreachable") unreachable)
  (func (export "oob") (result i32) (i32.load (i32.const 0x7fffffff)))
  (func (export "oob_edge") (result i32) (i32.load (i32.const 65533)))
  (func (export "oob_store") (i64.store offset=65530 (i32.const 0) (i64.const 1)))
  (func (export "div0") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
  (func (export "rem0") (param i64) (result i64) (i64.rem_u (i64.const 1) (local.get 0)))
  (func (export "overflow") (result i32) (i32.div_s (i32.const 0x80000000) (i32.const -1)))
  (func (export "badconv") (result i32) (i32.trunc_f32_s (f32.const nan)))
  (func (export "convrange") (result i32) (i32.trunc_f64_u (f64.const 1e20)))
  (func (export "badcall") (result i32) (call_indirect (type $v_i) (i32.const 0)))
  (func (export "nullcall") (result i32) (call_indirect (type $v_i) (i32.const 2)))
  (func (export "pastcall") (result i32) (call_indirect (type $v_i) (i32.const 7)))
  (func $rec (export "recurse") (param i32) (result i32) (i32.add (call $rec (local.get 0)) (i32.const 1)))
  (func $rec2 (export "recurse2") (param i32) (result i32)
    (drop (call $rec2 (i32.add (local.get 0) (i32.const 1))))
    (call $rec2 (local.get 0)))
  (func $rec_host (export "recurse_host") (param i32) (result i32)
    (drop (call $rec_host (call $add (local.get 0) (i32.const 1))))
    (call $rec_host (local.get 0)))
  (func $rec_indirect (export "recurse_indirect") (param i32) (result i32)
    (i32.add (call_indirect (type $i_i) (local.get 0) (i32.const 1)) (i32.const 1)))
  (func $rec_indirect0 (export "recurse_indirect0") (result i32)
    (i32.add (call_indirect (type $v_i) (i32.const 3)) (i32.const 1)))
  (func $depth (export "depth") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (call $depth (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
  (func (export "spin") (loop $l (br $l)))
  ;; An endless loop in a function that calls (once in four billion rounds): its checks only read
  ;; the fuel, so nothing but an interrupt ends it.
  (func $nothing)
  (func (export "spin_calling") (local $i i32)
    (loop $l
      (if (i32.eq (local.get $i) (i32.const -1)) (then (call $nothing)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
  (func $count (export "count") (param $n i32) (result i32) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $i))
  ;; $outer calls of count($inner), summed: the fuel spent in a callee's loops counts for the caller.
  (func (export "nested") (param $outer i32) (param $inner i32) (result i32) (local $i i32) (local $sum i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $outer)))
        (local.set $sum (i32.add (local.get $sum) (call $count (local.get $inner))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $sum))
;; Many integer and float values live across every back edge, folded into one i64 at the end:
  ;; running out of fuel (the host called in the middle of the loop) must change none of them.
  (func (export "juggle") (param $n i32) (result i64)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $x i64) (local $y i64)
    (local $z i64) (local $f f64) (local $g f64) (local $h f64) (local $k f64) (local $p f32)
    (local $q f32)
    (local.set $a (i32.const 1)) (local.set $b (i32.const 2)) (local.set $c (i32.const 3))
    (local.set $y (i64.const 1)) (local.set $g (f64.const 1.5)) (local.set $q (f32.const 1.25))
    (loop $l
      (local.set $a (i32.add (local.get $a) (local.get $n)))
      (local.set $b (i32.xor (local.get $b) (i32.mul (local.get $a) (i32.const 31))))
      (local.set $c (i32.rotl (local.get $c) (local.get $b)))
      (local.set $d (i32.sub (local.get $d) (local.get $c)))
      (local.set $x (i64.add (local.get $x) (i64.extend_i32_u (local.get $b))))
      (local.set $y (i64.add (i64.mul (local.get $y) (i64.const 6364136223846793005)) (local.get $x)))
      (local.set $z (i64.xor (local.get $z) (i64.rotl (local.get $y) (i64.const 17))))
      (local.set $f (f64.add (local.get $f) (f64.convert_i32_s (local.get $d))))
      (local.set $g (f64.mul (local.get $g) (f64.const 1.0000001)))
      (local.set $h (f64.sub (local.get $h) (f64.mul (local.get $f) (f64.const 0.25))))
      (local.set $k (f64.add (local.get $k) (f64.sqrt (f64.abs (local.get $h)))))
      (local.set $p (f32.add (local.get $p) (f32.const 0.5)))
      (local.set $q (f32.mul (local.get $q) (f32.const 1.0001)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))
    (i64.xor
      (i64.xor (i64.xor (i64.extend_i32_u (local.get $a)) (i64.shl (i64.extend_i32_u (local.get $b)) (i64.const 32)))
               (i64.xor (i64.extend_i32_u (local.get $c)) (i64.rotl (i64.extend_i32_u (local.get $d)) (i64.const 16))))
      (i64.xor
        (i64.xor (local.get $x) (i64.xor (local.get $y) (local.get $z)))
        (i64.xor
          (i64.xor (i64.reinterpret_f64 (local.get $f)) (i64.rotl (i64.reinterpret_f64 (local.get $g)) (i64.const 8)))
          (i64.xor
            (i64.xor (i64.rotl (i64.reinterpret_f64 (local.get $h)) (i64.const 24))
                     (i64.rotl (i64.reinterpret_f64 (local.get $k)) (i64.const 40)))
            (i64.xor (i64.extend_i32_u (i32.reinterpret_f32 (local.get $p)))
                     (i64.shl (i64.extend_i32_u (i32.reinterpret_f32 (local.get $q))) (i64.const 32))))))))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "fsum") (param f64 f32) (result f64) (f64.add (local.get 0) (f64.promote_f32 (local.get 1))))
  (func (export "fhalf") (param f32) (result f32) (f32.mul (local.get 0) (f32.const 0.5)))
))";

// Stands in for the scheduler's watchdog: interrupts an instance every millisecond until it goes
// out of scope (which must be before the instance does).
class Interrupter {
 public:
  explicit Interrupter(Instance& instance)
      : thread_([this, &instance] {
          while (!stop_.load()) {
            instance.interrupt();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
        }) {}
  ~Interrupter() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class EngineConformance : public ::testing::TestWithParam<Tier> {
 protected:
  void SetUp() override {
    EngineConfig config;
    config.tier = GetParam();
    engine = Engine::create(config);
    ASSERT_EQ(engine->tier(), GetParam());
    module = engine->load(test::wat_to_wasm(kModule), test_linker(), "conformance.wat");
    instance = module->instantiate({}, &log);
  }

  std::shared_ptr<Module> load(std::string_view wat, const Linker& linker = test_linker(),
                               std::string_view label = "test.wat") {
    return engine->load(test::wat_to_wasm(wat), linker, label);
  }
  // Calls an export that returns one value and must not trap.
  uint64_t call1(std::string_view name, std::vector<uint64_t> args, Instance* on = nullptr) {
    uint64_t r[1] = {0};
    auto trap = (on ? on : instance.get())->call(name, args, r);
    EXPECT_FALSE(trap) << name << ": " << (trap ? trap->message : "");
    return r[0];
  }
  // Calls an export that must trap, and returns the trap.
  Trap trap_of(std::string_view name, std::vector<uint64_t> args = {}, Instance* on = nullptr) {
    uint64_t r[1] = {0};
    auto trap = (on ? on : instance.get())->call(name, args, r);
    EXPECT_TRUE(trap) << name << " should have trapped";
    return trap.value_or(Trap{});
  }
  // The LoadError message of `f`, or a test failure if it does not throw one.
  template <typename F>
  std::string load_error(F&& f) {
    try {
      f();
    } catch (const LoadError& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected a LoadError";
    return "";
  }

  HostLog log;
  std::unique_ptr<Engine> engine;
  std::shared_ptr<Module> module;
  std::unique_ptr<Instance> instance;
};

// Floats cross the host boundary as bit patterns in u64 slots.
inline uint64_t f32_slot(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  return b;
}
inline uint64_t f64_slot(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}
inline float slot_f32(uint64_t s) {
  const auto b = static_cast<uint32_t>(s);
  float v;
  std::memcpy(&v, &b, 4);
  return v;
}
inline double slot_f64(uint64_t s) {
  double v;
  std::memcpy(&v, &s, 8);
  return v;
}

inline std::string tier_name(const ::testing::TestParamInfo<Tier>& info) {
  return info.param == Tier::Aot ? "Aot" : "Interp";
}

}  // namespace theater::engine::conformance
