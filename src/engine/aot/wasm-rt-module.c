/* Compiled into every module's shared object, beside wasm2c's output and the generated glue:
 * the parts of wasm-rt that need no host state (function types, tables), and forwarders to the
 * host for the parts that do (traps, memory). Function types are registered per shared object:
 * call_indirect only ever compares types within one module. The host runs init_module once per
 * module, under its own lock, so the registry needs none. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "wasm-rt.h"

static const theater_rt_api* theater_rt;

void theater_module_bind(const theater_rt_api* api) { theater_rt = api; }

void wasm_rt_init(void) {}
bool wasm_rt_is_initialized(void) { return true; }
void wasm_rt_free(void) {}

WASM_RT_NO_RETURN void wasm_rt_trap(wasm_rt_trap_t code) { theater_rt->trap(code); }

const char* wasm_rt_strerror(wasm_rt_trap_t trap) {
  (void)trap;
  return "trap";
}

typedef struct func_type {
  uint32_t params, results;
  wasm_rt_type_t types[];
} func_type;

static func_type** g_types;
static uint32_t g_type_count;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  uint32_t n = params + results;
  func_type* t = malloc(sizeof(func_type) + n * sizeof(wasm_rt_type_t));
  if (!t) abort();
  t->params = params;
  t->results = results;
  va_list ap;
  va_start(ap, results);
  for (uint32_t i = 0; i < n; ++i) t->types[i] = (wasm_rt_type_t)va_arg(ap, int);
  va_end(ap);
  for (uint32_t i = 0; i < g_type_count; ++i) {
    func_type* o = g_types[i];
    if (o->params == params && o->results == results &&
        memcmp(o->types, t->types, n * sizeof(wasm_rt_type_t)) == 0) {
      free(t);
      return i + 1;
    }
  }
  func_type** grown = realloc(g_types, (g_type_count + 1) * sizeof(func_type*));
  if (!grown) abort();
  g_types = grown;
  g_types[g_type_count++] = t;
  return g_type_count;
}

/* The registry lives as long as the shared object: free it when the host dlcloses the module. */
__attribute__((destructor)) static void theater_free_func_types(void) {
  for (uint32_t i = 0; i < g_type_count; ++i) free(g_types[i]);
  free(g_types);
  g_types = NULL;
  g_type_count = 0;
}

uint32_t wasm_rt_register_tag(uint32_t size) {
  (void)size;
  wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
}
void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void* values) {
  (void)tag; (void)size; (void)values;
  wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
}
WASM_RT_NO_RETURN void wasm_rt_throw(void) { wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION); }
WASM_RT_UNWIND_TARGET* wasm_rt_get_unwind_target(void) { return NULL; }
void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET* target) { (void)target; }
uint32_t wasm_rt_exception_tag(void) { return 0; }
uint32_t wasm_rt_exception_size(void) { return 0; }
void* wasm_rt_exception(void) { return NULL; }

void wasm_rt_allocate_memory(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  theater_rt->allocate_memory(m, initial, max);
}
uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* m, uint32_t pages) {
  return theater_rt->grow_memory(m, pages);
}
void wasm_rt_free_memory(wasm_rt_memory_t* m) { theater_rt->free_memory(m); }

#define THEATER_TABLE_OPS(type)                                                               \
  void wasm_rt_allocate_##type##_table(wasm_rt_##type##_table_t* t, uint32_t elements,       \
                                       uint32_t max_elements) {                              \
    t->size = elements;                                                                      \
    t->max_size = max_elements;                                                              \
    t->data = calloc(elements ? elements : 1, sizeof(wasm_rt_##type##_t));                   \
    if (!t->data) wasm_rt_trap(WASM_RT_TRAP_EXHAUSTION);                                     \
  }                                                                                          \
  void wasm_rt_free_##type##_table(wasm_rt_##type##_table_t* t) { free(t->data); }           \
  uint32_t wasm_rt_grow_##type##_table(wasm_rt_##type##_table_t* t, uint32_t delta,          \
                                       wasm_rt_##type##_t init) {                            \
    uint32_t old = t->size;                                                                  \
    uint64_t n = (uint64_t)old + delta;                                                      \
    if (n > t->max_size || n > 10000000u) return (uint32_t)-1;                               \
    if (delta == 0) return old;                                                              \
    wasm_rt_##type##_t* d = realloc(t->data, n * sizeof(wasm_rt_##type##_t));                \
    if (!d) return (uint32_t)-1;                                                             \
    for (uint64_t i = old; i < n; ++i) d[i] = init;                                          \
    t->data = d;                                                                             \
    t->size = (uint32_t)n;                                                                   \
    return old;                                                                              \
  }

THEATER_TABLE_OPS(funcref)
THEATER_TABLE_OPS(externref)
