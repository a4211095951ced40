/* Theater's wasm-rt.h: the runtime interface that wasm2c 1.0.32's generated C code compiles
 * against. It replaces Debian's wasm-rt.h so that every piece of per-execution state is safe across
 * threads and fibers:
 *  - memory accesses are bounds-checked in the generated code (no 8 GiB guard reservation per
 *    instance, no SIGSEGV handler in the process);
 *  - no call-depth counter (it cost more than the fuel checks): deep recursion runs into the
 *    guard page of the stack it runs on, and the host turns that fault into a StackExhausted trap
 *    (modules are compiled with -fstack-clash-protection, so no frame skips the guard page);
 *  - traps, memory and host calls go through a function table the host binds once per module
 *    (theater_module_bind), so the shared object has no undefined symbols into the host.
 * The API names and types below are the ones the generated code uses; do not rename them. */
#ifndef WASM_RT_H_
#define WASM_RT_H_

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define wasm_rt_memcpy __builtin_memcpy
#define wasm_rt_unreachable __builtin_unreachable
#define WASM_RT_NO_RETURN __attribute__((noreturn))

#define WASM_RT_MEMCHECK_SIGNAL_HANDLER 0
#define WASM_RT_SIGNAL_RECOVERY_SUPPORTED 0
#define WASM_RT_SKIP_SIGNAL_RECOVERY 1
#define WASM_RT_USE_STACK_DEPTH_COUNT 0
#define WASM_RT_MERGED_OOB_AND_EXHAUSTION_TRAPS 0

/* The head of the host's per-instance context. Every import-context pointer of an instance points
 * at it, so generated code finds it as instance->Z_theater_instance (instrumentation guarantees the
 * module imports from "theater"). */
typedef struct theater_rt_ctx {
  uint32_t abi_version; /* THEATER_RT_API_VERSION; the host owns the rest of the context */
} theater_rt_ctx;

typedef enum {
  WASM_RT_TRAP_NONE,
  WASM_RT_TRAP_OOB,
  WASM_RT_TRAP_INT_OVERFLOW,
  WASM_RT_TRAP_DIV_BY_ZERO,
  WASM_RT_TRAP_INVALID_CONVERSION,
  WASM_RT_TRAP_UNREACHABLE,
  WASM_RT_TRAP_CALL_INDIRECT,
  WASM_RT_TRAP_UNCAUGHT_EXCEPTION,
  WASM_RT_TRAP_EXHAUSTION,
} wasm_rt_trap_t;

typedef enum {
  WASM_RT_I32,
  WASM_RT_I64,
  WASM_RT_F32,
  WASM_RT_F64,
  WASM_RT_FUNCREF,
  WASM_RT_EXTERNREF,
} wasm_rt_type_t;

typedef void (*wasm_rt_function_ptr_t)(void);

typedef struct {
  uint32_t func_type;
  wasm_rt_function_ptr_t func;
  void* module_instance;
} wasm_rt_funcref_t;

static const wasm_rt_funcref_t wasm_rt_funcref_null_value = {0, NULL, NULL};

typedef void* wasm_rt_externref_t;
static const wasm_rt_externref_t wasm_rt_externref_null_value = NULL;

typedef struct {
  uint8_t* data;
  uint32_t pages, max_pages;
  uint32_t size;
} wasm_rt_memory_t;

typedef struct {
  wasm_rt_funcref_t* data;
  uint32_t max_size;
  uint32_t size;
} wasm_rt_funcref_table_t;

typedef struct {
  wasm_rt_externref_t* data;
  uint32_t max_size;
  uint32_t size;
} wasm_rt_externref_table_t;

void wasm_rt_init(void);
bool wasm_rt_is_initialized(void);
void wasm_rt_free(void);
WASM_RT_NO_RETURN void wasm_rt_trap(wasm_rt_trap_t);
const char* wasm_rt_strerror(wasm_rt_trap_t trap);
uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...);

/* Exception handling is refused at load time; these exist so that generated code links. */
uint32_t wasm_rt_register_tag(uint32_t size);
void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void* values);
WASM_RT_NO_RETURN void wasm_rt_throw(void);
#define WASM_RT_UNWIND_TARGET jmp_buf
WASM_RT_UNWIND_TARGET* wasm_rt_get_unwind_target(void);
void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET* target);
uint32_t wasm_rt_exception_tag(void);
uint32_t wasm_rt_exception_size(void);
void* wasm_rt_exception(void);
#define WASM_RT_SETJMP(buf) setjmp(buf)
#define wasm_rt_try(target) WASM_RT_SETJMP(target)

void wasm_rt_allocate_memory(wasm_rt_memory_t*, uint32_t initial_pages, uint32_t max_pages);
uint32_t wasm_rt_grow_memory(wasm_rt_memory_t*, uint32_t pages);
void wasm_rt_free_memory(wasm_rt_memory_t*);
void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t*, uint32_t elements,
                                    uint32_t max_elements);
void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t*);
void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t*, uint32_t elements,
                                      uint32_t max_elements);
void wasm_rt_free_externref_table(wasm_rt_externref_table_t*);
uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t*, uint32_t delta,
                                    wasm_rt_funcref_t init);
uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t*, uint32_t delta,
                                      wasm_rt_externref_t init);

/* ---- Theater's binding between a module's shared object and the host ---------------------- */

/* Services the host gives every module. */
typedef struct theater_rt_api {
  uint32_t version;
  /* Unwinds to the host's innermost call into wasm on this thread. */
  WASM_RT_NO_RETURN void (*trap)(wasm_rt_trap_t code);
  /* An imported function: slot = the module's import index. */
  uint64_t (*host_call)(void* ctx, uint32_t slot, const uint64_t* args);
  void (*allocate_memory)(wasm_rt_memory_t*, uint32_t initial_pages, uint32_t max_pages);
  uint32_t (*grow_memory)(wasm_rt_memory_t*, uint32_t pages);
  void (*free_memory)(wasm_rt_memory_t*);
} theater_rt_api;

#define THEATER_RT_API_VERSION 2

/* Uniform entry point for an exported function: raw u64 arguments and results. */
typedef void (*theater_export_fn)(void* instance, const uint64_t* args, uint64_t* results);

typedef struct theater_export {
  const char* name;
  theater_export_fn fn;
} theater_export;

#ifdef __cplusplus
}
#endif

#endif /* WASM_RT_H_ */
