#pragma once
// The AOT tier: instrumented wasm -> wasm2c -> C compiler -> shared object, cached on disk under
// the SHA-256 of (instrumented module, runtime sources, compiler, flags) and loaded with dlopen.
// A second load of the same module costs no compile; instances are ~µs (a struct and an mmap).
#include <memory>

#include "engine/engine.hpp"

namespace theater::engine {

// Null if wasm2c or the C compiler is missing (`why` then says which).
std::unique_ptr<Engine> make_aot_engine(const EngineConfig& config, std::string* why);

// Per-thread execution state of the AOT tier (the innermost host->wasm call's unwind target).
// A fiber that suspends inside wasm takes it along and puts it back on whichever thread resumes it.
void* aot_save_thread_state();
void aot_restore_thread_state(void* state);

}  // namespace theater::engine
