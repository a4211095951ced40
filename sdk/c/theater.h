/* theater.h: write Theater actors in C or C++ (wasm32-wasi). One header, nothing to link.
 *
 * An actor is a wasm module that exports handlers. The runtime calls a handler with the message
 * bytes and commits the state staged with theater_state_set() when the handler returns 0. Any other
 * return value, a trap, running past the deadline or past the memory limit is a FAILURE: the staged
 * state is dropped, the instance discarded, and the parent's supervision policy applies (usually:
 * a fresh instance gets the last committed state through its init handler, reason 1).
 *
 *   // counter.c -- state: the count as decimal text
 *   #include "theater.h"
 *
 *   static long long count;
 *
 *   THEATER_INIT(on_init) {                  // (state, len, reason)
 *     count = theater_parse_int(state, len, 0);
 *     if (reason == THEATER_RESTART) theater_log_fmt(THEATER_INFO, "back with count=%lld", count);
 *     return 0;
 *   }
 *   THEATER_HANDLE_SEND(on_send) {           // (msg, len): "inc" | "add 5" | {"cmd":"add","n":5}
 *     if (theater_msg_is(msg, len, "inc")) count += 1;
 *     else if (theater_msg_is(msg, len, "add")) count += theater_msg_arg_int(msg, len, "n", 0);
 *     else return 0;                         // ignore what we do not understand
 *     return theater_state_set_int(count) < 0;   // 0 = success: the runtime commits the state
 *   }
 *   THEATER_HANDLE_REQUEST(on_request) {     // a request must be answered with theater_reply*
 *     if (theater_msg_is(msg, len, "get")) return theater_reply_int(count) < 0;
 *     return theater_reply_str("unknown command") < 0;
 *   }
 *
 *   # counter.toml
 *   name = "counter"
 *   component = "counter.wasm"
 *   handlers = ["message-server"]      # capabilities: message-server supervisor timing random store
 *
 * Build: clang --target=wasm32-wasi -O2 -mexec-model=reactor -Wl,--stack-first -I sdk/c \
 *              -o counter.wasm counter.c
 *        or theater_add_actor(counter SOURCES counter.c) after include(sdk/cmake/TheaterActor.cmake)
 * Run:   theater run counter.toml --send inc --send "add 5" --request get      # prints 6
 *
 * HANDLERS. THEATER_INIT, THEATER_HANDLE_SEND, _REQUEST, _TIMER, _CHILD_ERROR, _CHILD_EXIT,
 * _CHANNEL_OPEN, _CHANNEL_MESSAGE, _CHANNEL_CLOSE, _DOWN and THEATER_SHUTDOWN each define the
 * export and open the body of your function; the parameter names are fixed and listed at each
 * macro below. You may also write `THEATER_HANDLE_SEND(on_send);` and define
 * `int32_t on_send(const uint8_t* m, int32_t n) {...}` yourself. The macros free the argument
 * buffers after your function returns, so copy what you want to keep. (Bare exports work too:
 * THEATER_EXPORT("theater_handle_send") int32_t f(const uint8_t* msg, int32_t len) {...}; then
 * release the pointer arguments with theater_arg_free(msg) before returning: most arguments
 * come in the inbox below and need nothing, but those that do not fit it come from
 * theater_alloc and stay allocated unless freed.)
 *
 * BUFFERS. Results of variable size (a reply, a state, an id) arrive in a theater_buf the runtime
 * filled through theater_alloc: you own it, release it with theater_buf_free(). With the default
 * allocator every such buffer, and every handler argument, is followed by a NUL byte, so
 * theater_buf_cstr(&b) and (const char*)msg are C strings (unless the bytes contain a NUL).
 *
 * NAMES. Wrappers take byte ranges (ptr, len) like the ABI; the *_str variant of each takes
 * NUL-terminated strings instead. They return the ABI's rc: >= 0 success, THEATER_E* < 0 error.
 * theater_raw_* are the imports themselves. Actor ids are made by the runtime; treat them as
 * opaque text (today "<name>-<12 hex digits>").
 *
 * MESSAGES. The helpers understand a command in either of two spellings:
 *   text:  a command word, then arguments separated by spaces:   add 5      move x=3 y=4
 *   JSON:  an object with "cmd" and named members:                {"cmd":"add","n":5}
 * theater_msg_is() matches the command; theater_msg_arg_int()/theater_msg_arg_str() look up an
 * argument by key: in JSON the member `key`; in text the word `key=value` or, when there is no
 * such word, the first argument without '=' (so "add 5" gives 5 for any key; with several
 * arguments, name them). theater_msg_int(m, l, fallback) is theater_msg_arg_int(m, l, "n", ...).
 * JSON string values come back as written (escapes are not decoded); only top-level members
 * count. theater_msg_arg() is the raw text after the command word (text messages).
 *
 * ALLOCATOR. theater_alloc, which the ABI requires, is defined here (weak; malloc plus a NUL
 * byte). To supply your own, define THEATER_CUSTOM_ALLOC before including this header and define
 * `void* theater_alloc(int32_t size)` in one file; have it return theater_default_alloc(size)
 * for the buffers you do not manage yourself, or handler arguments are not freed and results
 * not NUL-terminated. theater_buf_free() calls free().
 *
 * C++: the header is C++17-clean and, as wasi-libc ships no C++ library, defines weak operator
 * new/delete on malloc/free (define THEATER_NO_CXX_RUNTIME to leave them out). Build C++ actors
 * with -fno-exceptions -fno-rtti -fno-threadsafe-statics; theater_add_actor does.
 */
#ifndef THEATER_H_
#define THEATER_H_

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ABI constants (actor-abi.md) ---------------------------------------------------------- */
#define THEATER_ABI_VERSION 1

enum {
  THEATER_OK = 0,
  THEATER_EINVAL = -1,    /* bad argument, or a ptr/len outside memory (the call had no effect) */
  THEATER_ENOTFOUND = -2, /* no such actor, child, channel or blob; or no handler for it */
  THEATER_EDENIED = -3,   /* capability (handler) not granted; a channel refused */
  THEATER_ETIMEOUT = -4,  /* the deadline passed */
  THEATER_EFULL = -5,     /* the target's mailbox is full */
  THEATER_ESTOPPED = -6,  /* the target is stopped or stopping */
  THEATER_ETOOBIG = -7,   /* a message or state over the configured limit */
  THEATER_EFAILED = -8    /* runtime addition: the target failed while handling the request */
};
/* theater_init's reason */
enum { THEATER_FIRST_START = 0, THEATER_RESTART = 1, THEATER_UPGRADE = 2, THEATER_RESUME = 3 };
/* log levels */
enum { THEATER_TRACE = 0, THEATER_DEBUG = 1, THEATER_INFO = 2, THEATER_WARN = 3, THEATER_ERROR = 4 };
/* what theater_handle_child_error returns */
enum { THEATER_CHILD_RESTART = 0, THEATER_CHILD_STOP = 1, THEATER_CHILD_ESCALATE = 2 };
/* what theater_handle_channel_open returns */
enum { THEATER_CHANNEL_REFUSE = 0, THEATER_CHANNEL_ACCEPT = 1 };

/* THEATER_EXPORT("theater_handle_send") int32_t f(...): export f under that name. */
#define THEATER_EXPORT(name) __attribute__((export_name(name)))
#define THEATER_IMPORT(name) __attribute__((import_module("theater"), import_name(#name)))
#define THEATER_UNUSED __attribute__((unused))
#define THEATER_WEAK __attribute__((weak))
/* larger helpers: one copy per file instead of one per call */
#define THEATER_NOINLINE_ static inline __attribute__((noinline))

/* ---- raw imports, exactly as the ABI has them -------------------------------------------- */
/* always granted */
THEATER_IMPORT(state_set) int32_t theater_raw_state_set(const void* ptr, int32_t len);
THEATER_IMPORT(state_get) int32_t theater_raw_state_get(uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(self_id) int32_t theater_raw_self_id(uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(log) int32_t theater_raw_log(int32_t level, const void* ptr, int32_t len);
THEATER_IMPORT(exit) int32_t theater_raw_exit(const void* ptr, int32_t len);
THEATER_IMPORT(fail) int32_t theater_raw_fail(const void* ptr, int32_t len);
/* handler "message-server" */
THEATER_IMPORT(send)
int32_t theater_raw_send(const void* to, int32_t to_len, const void* msg, int32_t msg_len);
THEATER_IMPORT(request)
int32_t theater_raw_request(const void* to, int32_t to_len, const void* msg, int32_t msg_len, int32_t timeout_ms,
                            uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(reply) int32_t theater_raw_reply(const void* ptr, int32_t len);
THEATER_IMPORT(channel_open)
int32_t theater_raw_channel_open(const void* to, int32_t to_len, const void* msg, int32_t msg_len, uint8_t** out_ptr,
                                 int32_t* out_len);
THEATER_IMPORT(channel_send)
int32_t theater_raw_channel_send(const void* ch, int32_t ch_len, const void* msg, int32_t msg_len);
THEATER_IMPORT(channel_close) int32_t theater_raw_channel_close(const void* ch, int32_t ch_len);
/* handler "supervisor" */
THEATER_IMPORT(spawn)
int32_t theater_raw_spawn(const void* manifest, int32_t manifest_len, const void* init, int32_t init_len,
                          uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(spawn_on)
int32_t theater_raw_spawn_on(const void* manifest, int32_t manifest_len, const void* init, int32_t init_len,
                             const void* where, int32_t where_len, uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(stop_child) int32_t theater_raw_stop_child(const void* id, int32_t id_len);
THEATER_IMPORT(restart_child) int32_t theater_raw_restart_child(const void* id, int32_t id_len);
THEATER_IMPORT(list_children) int32_t theater_raw_list_children(uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(child_state)
int32_t theater_raw_child_state(const void* id, int32_t id_len, uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(child_events)
int32_t theater_raw_child_events(const void* id, int32_t id_len, uint8_t** out_ptr, int32_t* out_len);
/* runtime additions, handler "supervisor": watch any actor; theater_handle_down when it stops */
THEATER_IMPORT(monitor) int32_t theater_raw_monitor(const void* id, int32_t id_len);
THEATER_IMPORT(demonitor) int32_t theater_raw_demonitor(const void* id, int32_t id_len);
/* handler "timing" (already friendly: used directly) */
THEATER_IMPORT(now_ms) int64_t theater_now_ms(void);
THEATER_IMPORT(timer_set) int32_t theater_timer_set(int32_t delay_ms, int64_t tag);
/* handler "random" */
THEATER_IMPORT(random_fill) int32_t theater_random_fill(void* ptr, int32_t len);
/* handler "store" (content-addressed blobs; refs are "sha256:<hex>") */
THEATER_IMPORT(store_put)
int32_t theater_raw_store_put(const void* ptr, int32_t len, uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(store_get)
int32_t theater_raw_store_get(const void* ref, int32_t ref_len, uint8_t** out_ptr, int32_t* out_len);

/* ---- memory the runtime fills -------------------------------------------------------------- */

/* Handler arguments are allocated (by the runtime, through theater_alloc) while no handler runs;
 * the default allocator remembers the latest few such buffers so that the handler macros can
 * free exactly those, and never a pointer that did not come from it. Weak: one copy per actor. */
#define THEATER_ARG_SLOTS 8
THEATER_WEAK void* theater_arg_slots_[THEATER_ARG_SLOTS];
THEATER_WEAK uint32_t theater_arg_next_;
THEATER_WEAK int32_t theater_arg_live_; /* slots in use: none for arguments in the inbox */
THEATER_WEAK int32_t theater_handler_depth_;

/* Forgets p as a handler argument; returns 1 if it was one. */
static inline int theater_arg_forget_(const void* p) {
  if (!p || !theater_arg_live_) return 0;
  for (int i = 0; i < THEATER_ARG_SLOTS; ++i) {
    if (theater_arg_slots_[i] == p) {
      theater_arg_slots_[i] = 0;
      --theater_arg_live_;
      return 1;
    }
  }
  return 0;
}

/* The default allocation: malloc(size + 1) with a NUL after the bytes; 0 when out of memory. */
THEATER_NOINLINE_ void* theater_default_alloc(int32_t size) {
  if (size < 0) return 0;
  uint8_t* p = (uint8_t*)malloc((size_t)size + 1);
  if (!p) return 0;
  p[size] = 0;
  if (theater_handler_depth_ == 0) {
    int i = 0;
    while (i < THEATER_ARG_SLOTS && theater_arg_slots_[i]) ++i;
    if (i == THEATER_ARG_SLOTS) {
      i = (int)(theater_arg_next_++ % THEATER_ARG_SLOTS); /* forget the oldest */
    } else {
      ++theater_arg_live_;
    }
    theater_arg_slots_[i] = p;
  }
  return p;
}

/* Frees a handler argument that theater_default_alloc made (else does nothing). The handler
 * macros do this for you; in a bare export, call it on each pointer argument before returning. */
static inline void theater_arg_free(const void* p) {
  if (theater_arg_forget_(p)) free((void*)p);
}

/* Every actor must export theater_alloc (8-byte aligned; 0 = out of memory, which fails the
 * handler). This weak definition is the one unless THEATER_CUSTOM_ALLOC is defined. */
__attribute__((export_name("theater_alloc"))) void* theater_alloc(int32_t size);
#ifndef THEATER_CUSTOM_ALLOC
THEATER_WEAK void* theater_alloc(int32_t size) { return theater_default_alloc(size); }
#endif

/* The inbox (docs/abi-additions.md): one buffer, kept for the instance's life, that the runtime
 * writes handler arguments into instead of asking theater_alloc for each message, which saves a
 * call into the actor, a malloc and a free per message. The runtime asks again when it needs a
 * larger one; the old one is then no longer used. Arguments there are valid until the handler
 * returns (the handler macros copy nothing; neither should you keep pointers into them) and are
 * followed by a NUL byte. Define THEATER_NO_INBOX to leave it out. */
#ifndef THEATER_NO_INBOX
THEATER_WEAK void* theater_inbox_buf_;
__attribute__((export_name("theater_inbox"))) void* theater_inbox(int32_t size);
THEATER_WEAK void* theater_inbox(int32_t size) {
  if (size <= 0) return 0;
  free(theater_inbox_buf_);
  theater_inbox_buf_ = malloc((size_t)size);
  return theater_inbox_buf_;
}
#endif

/* Declares the ABI version (optional in the ABI; weak so that every actor has exactly one). */
__attribute__((export_name("theater_abi_version"))) int32_t theater_abi_version(void);
THEATER_WEAK int32_t theater_abi_version(void) { return THEATER_ABI_VERSION; }

/* Used by the handler macros around your function. */
static inline void theater_handler_enter_(void) { ++theater_handler_depth_; }
static inline void theater_handler_leave_(const void* arg1, const void* arg2) {
  if (--theater_handler_depth_ > 0) return;
  theater_handler_depth_ = 0;
  if (!theater_arg_live_) return; /* arguments in the inbox: nothing to free or forget */
  theater_arg_free(arg1);
  theater_arg_free(arg2);
  for (int i = 0; i < THEATER_ARG_SLOTS; ++i) theater_arg_slots_[i] = 0; /* results: yours */
  theater_arg_live_ = 0;
}

/* A result the runtime allocated for you: you own it. Start with theater_buf b = {0, 0}. */
typedef struct theater_buf {
  uint8_t* ptr;
  int32_t len;
} theater_buf;

static inline void theater_buf_free(theater_buf* b) {
  theater_arg_forget_(b->ptr); /* (allocated outside a handler macro: not an argument) */
  free(b->ptr);
  b->ptr = NULL;
  b->len = 0;
}
/* The bytes as a C string, without copying (the default allocator adds a NUL); "" if empty. */
static inline const char* theater_buf_cstr(const theater_buf* b) { return b->ptr ? (const char*)b->ptr : ""; }
/* A NUL-terminated copy (free() it), or NULL when out of memory. */
static inline char* theater_buf_str(const theater_buf* b) {
  char* s = (char*)malloc((size_t)b->len + 1);
  if (!s) return NULL;
  if (b->len > 0) memcpy(s, b->ptr, (size_t)b->len);
  s[b->len > 0 ? b->len : 0] = '\0';
  return s;
}
/* True if the bytes equal the string. */
static inline int theater_buf_eq(const theater_buf* b, const char* s) {
  size_t n = strlen(s);
  return b->len >= 0 && (size_t)b->len == n && (n == 0 || memcmp(b->ptr, s, n) == 0);
}

/* ---- integers <-> text ----------------------------------------------------------------- */

static inline int32_t theater_slen(const char* s) { return (int32_t)strlen(s); }

/* Parses a decimal integer at the start of p (spaces and a sign allowed before the digits,
 * anything after them ignored, clamped on overflow), or returns `fallback` if there is none. */
THEATER_NOINLINE_ long long theater_parse_int(const void* p, int32_t len, long long fallback) {
  const uint8_t* s = (const uint8_t*)p;
  int32_t i = 0;
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  int neg = 0;
  if (i < len && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  if (i >= len || s[i] < '0' || s[i] > '9') return fallback;
  const unsigned long long limit = neg ? 9223372036854775808ULL : 9223372036854775807ULL;
  unsigned long long v = 0;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; ++i) {
    unsigned d = (unsigned)(s[i] - '0');
    v = (v > (limit - d) / 10) ? limit : v * 10 + d;
  }
  if (!neg) return (long long)v;
  return v == 9223372036854775808ULL ? (-9223372036854775807LL - 1) : -(long long)v;
}

/* Writes v in decimal plus a NUL into buf; returns the length, or THEATER_EINVAL if size < 21. */
THEATER_NOINLINE_ int32_t theater_int_to_str(long long v, char* buf, int32_t size) {
  if (size < 21) return THEATER_EINVAL;
  char tmp[20];
  int32_t n = 0, out = 0;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) buf[out++] = '-';
  while (n) buf[out++] = tmp[--n];
  buf[out] = '\0';
  return out;
}

/* ---- always granted: state, identity, log, exit, fail ------------------------------------ */

/* Stages the state; committed when the handler returns 0, dropped on a failure. */
static inline int32_t theater_state_set(const void* ptr, int32_t len) { return theater_raw_state_set(ptr, len); }
static inline int32_t theater_state_set_str(const char* s) { return theater_raw_state_set(s, theater_slen(s)); }
static inline int32_t theater_state_set_int(long long v) {
  char buf[24];
  return theater_raw_state_set(buf, theater_int_to_str(v, buf, (int32_t)sizeof buf));
}
/* The state as staged in this handler, else as last committed. */
static inline int32_t theater_state_get(theater_buf* out) { return theater_raw_state_get(&out->ptr, &out->len); }
static inline int32_t theater_self_id(theater_buf* out) { return theater_raw_self_id(&out->ptr, &out->len); }

static inline int32_t theater_log_bytes(int32_t level, const void* ptr, int32_t len) {
  return theater_raw_log(level, ptr, len);
}
static inline int32_t theater_log(int32_t level, const char* text) {
  return theater_raw_log(level, text, theater_slen(text));
}
/* printf-style into a stack buffer; longer lines end in "..." */
__attribute__((format(printf, 2, 3))) static inline int32_t theater_log_fmt(int32_t level, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return THEATER_EINVAL;
  if (n >= (int)sizeof buf) {
    n = (int)sizeof buf - 1;
    memcpy(buf + n - 3, "...", 3);
  }
  return theater_raw_log(level, buf, n);
}

/* Stop normally after this handler returns; the parent's theater_handle_child_exit gets result. */
static inline int32_t theater_exit(const void* result, int32_t len) { return theater_raw_exit(result, len); }
static inline int32_t theater_exit_str(const char* result) { return theater_raw_exit(result, theater_slen(result)); }
/* Fail after this handler returns, with this message (the staged state is dropped). */
static inline int32_t theater_fail(const void* message, int32_t len) { return theater_raw_fail(message, len); }
static inline int32_t theater_fail_str(const char* message) {
  return theater_raw_fail(message, theater_slen(message));
}

/* ---- handler "message-server" ------------------------------------------------------------ */

static inline int32_t theater_send(const void* to, int32_t to_len, const void* msg, int32_t len) {
  return theater_raw_send(to, to_len, msg, len);
}
static inline int32_t theater_send_str(const char* to, const char* msg) {
  return theater_raw_send(to, theater_slen(to), msg, theater_slen(msg));
}
/* Waits for the reply (only this actor waits, never a thread); on rc >= 0 `out` holds it. */
static inline int32_t theater_request(const void* to, int32_t to_len, const void* msg, int32_t len,
                                      int32_t timeout_ms, theater_buf* out) {
  return theater_raw_request(to, to_len, msg, len, timeout_ms, &out->ptr, &out->len);
}
static inline int32_t theater_request_str(const char* to, const char* msg, int32_t timeout_ms, theater_buf* out) {
  return theater_raw_request(to, theater_slen(to), msg, theater_slen(msg), timeout_ms, &out->ptr, &out->len);
}
/* Inside a request handler: the answer (one per request). */
static inline int32_t theater_reply(const void* ptr, int32_t len) { return theater_raw_reply(ptr, len); }
static inline int32_t theater_reply_str(const char* s) { return theater_raw_reply(s, theater_slen(s)); }
static inline int32_t theater_reply_int(long long v) {
  char buf[24];
  return theater_raw_reply(buf, theater_int_to_str(v, buf, (int32_t)sizeof buf));
}
__attribute__((format(printf, 1, 2))) static inline int32_t theater_reply_fmt(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return THEATER_EINVAL;
  return theater_raw_reply(buf, n < (int)sizeof buf ? n : (int)sizeof buf - 1);
}

/* Channels: `ch` receives the channel id; the other side's theater_handle_channel_open decides. */
static inline int32_t theater_channel_open(const void* to, int32_t to_len, const void* msg, int32_t len,
                                           theater_buf* ch) {
  return theater_raw_channel_open(to, to_len, msg, len, &ch->ptr, &ch->len);
}
static inline int32_t theater_channel_open_str(const char* to, const char* msg, theater_buf* ch) {
  return theater_raw_channel_open(to, theater_slen(to), msg, theater_slen(msg), &ch->ptr, &ch->len);
}
static inline int32_t theater_channel_send(const void* ch, int32_t ch_len, const void* msg, int32_t len) {
  return theater_raw_channel_send(ch, ch_len, msg, len);
}
static inline int32_t theater_channel_send_str(const char* ch, const char* msg) {
  return theater_raw_channel_send(ch, theater_slen(ch), msg, theater_slen(msg));
}
static inline int32_t theater_channel_close(const void* ch, int32_t ch_len) {
  return theater_raw_channel_close(ch, ch_len);
}
static inline int32_t theater_channel_close_str(const char* ch) {
  return theater_raw_channel_close(ch, theater_slen(ch));
}

/* ---- handler "supervisor" ---------------------------------------------------------------- */

/* Spawns a child from manifest text (TOML); relative paths in it resolve against this actor's
 * manifest folder. `init` is its initial state; `id` receives the child's id. */
static inline int32_t theater_spawn(const void* manifest, int32_t manifest_len, const void* init, int32_t init_len,
                                    theater_buf* id) {
  return theater_raw_spawn(manifest, manifest_len, init, init_len, &id->ptr, &id->len);
}
static inline int32_t theater_spawn_str(const char* manifest, const char* init, theater_buf* id) {
  return theater_raw_spawn(manifest, theater_slen(manifest), init, theater_slen(init), &id->ptr, &id->len);
}
/* theater_spawn on the node of a cluster that `where` picks: "node:NAME", or a placement:
 * "near-parent" (this node), "least-loaded", "spread". On another node this actor waits (in its
 * own fiber) until the child's init has run there, then supervises it as any child. */
static inline int32_t theater_spawn_on_str(const char* manifest, const char* init, const char* where, theater_buf* id) {
  return theater_raw_spawn_on(manifest, theater_slen(manifest), init, theater_slen(init), where, theater_slen(where),
                              &id->ptr, &id->len);
}
static inline int32_t theater_stop_child(const void* id, int32_t id_len) { return theater_raw_stop_child(id, id_len); }
static inline int32_t theater_stop_child_str(const char* id) { return theater_raw_stop_child(id, theater_slen(id)); }
static inline int32_t theater_restart_child(const void* id, int32_t id_len) {
  return theater_raw_restart_child(id, id_len);
}
static inline int32_t theater_restart_child_str(const char* id) {
  return theater_raw_restart_child(id, theater_slen(id));
}
/* JSON array of the children's ids, in start order: ["counter-0123456789ab", ...] */
static inline int32_t theater_list_children(theater_buf* json) {
  return theater_raw_list_children(&json->ptr, &json->len);
}
static inline int32_t theater_child_state(const void* id, int32_t id_len, theater_buf* state) {
  return theater_raw_child_state(id, id_len, &state->ptr, &state->len);
}
static inline int32_t theater_child_state_str(const char* id, theater_buf* state) {
  return theater_raw_child_state(id, theater_slen(id), &state->ptr, &state->len);
}
static inline int32_t theater_child_events(const void* id, int32_t id_len, theater_buf* json) {
  return theater_raw_child_events(id, id_len, &json->ptr, &json->len);
}
static inline int32_t theater_child_events_str(const char* id, theater_buf* json) {
  return theater_raw_child_events(id, theater_slen(id), &json->ptr, &json->len);
}
static inline int32_t theater_monitor(const void* id, int32_t id_len) { return theater_raw_monitor(id, id_len); }
static inline int32_t theater_monitor_str(const char* id) { return theater_raw_monitor(id, theater_slen(id)); }
static inline int32_t theater_demonitor(const void* id, int32_t id_len) { return theater_raw_demonitor(id, id_len); }
static inline int32_t theater_demonitor_str(const char* id) { return theater_raw_demonitor(id, theater_slen(id)); }

/* The i-th (from 0) string of a JSON array of strings such as list_children's, without copying.
 * Returns its length and points *s at it, or returns -1 when there is no such element. */
THEATER_NOINLINE_ int32_t theater_json_array_str(const void* json, int32_t len, int32_t index, const char** s) {
  const char* p = (const char*)json;
  for (int32_t i = 0; i < len; ++i) {
    if (p[i] != '"') continue;
    int32_t start = ++i;
    while (i < len && p[i] != '"') i += p[i] == '\\' ? 2 : 1;
    if (i > len) i = len;
    if (index-- == 0) {
      *s = p + start;
      return i - start;
    }
  }
  return -1;
}

/* ---- handlers "random" and "store" ------------------------------------------------------- */

/* (theater_random_fill(ptr, len) is the import itself.) 0 if the handler is not granted. */
static inline uint32_t theater_random_u32(void) {
  uint32_t v = 0;
  theater_random_fill(&v, (int32_t)sizeof v);
  return v;
}
static inline uint64_t theater_random_u64(void) {
  uint64_t v = 0;
  theater_random_fill(&v, (int32_t)sizeof v);
  return v;
}

/* `ref` receives "sha256:<hex>" */
static inline int32_t theater_store_put(const void* ptr, int32_t len, theater_buf* ref) {
  return theater_raw_store_put(ptr, len, &ref->ptr, &ref->len);
}
static inline int32_t theater_store_put_str(const char* s, theater_buf* ref) {
  return theater_raw_store_put(s, theater_slen(s), &ref->ptr, &ref->len);
}
static inline int32_t theater_store_get(const void* ref, int32_t ref_len, theater_buf* bytes) {
  return theater_raw_store_get(ref, ref_len, &bytes->ptr, &bytes->len);
}
static inline int32_t theater_store_get_str(const char* ref, theater_buf* bytes) {
  return theater_raw_store_get(ref, theater_slen(ref), &bytes->ptr, &bytes->len);
}

/* ---- messages: "cmd arg..." or {"cmd": "...", ...} (see the top comment) ------------------- */

static inline int theater_is_space_(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static inline int32_t theater_skip_space_(const uint8_t* p, int32_t i, int32_t len) {
  while (i < len && theater_is_space_(p[i])) ++i;
  return i;
}
/* Index of the quote that closes the string whose opening quote is at i, or len. */
static inline int32_t theater_json_close_(const uint8_t* p, int32_t i, int32_t len) {
  for (++i; i < len; ++i) {
    if (p[i] == '\\') ++i;
    else if (p[i] == '"') return i;
  }
  return len;
}
static inline int theater_msg_is_json_(const uint8_t* p, int32_t len) {
  int32_t i = theater_skip_space_(p, 0, len);
  return i < len && p[i] == '{';
}
/* JSON: the value of top-level member `key` (a string's contents without its quotes). */
THEATER_NOINLINE_ const uint8_t* theater_json_member_(const uint8_t* p, int32_t len, const char* key, int32_t* vlen) {
  const int32_t klen = theater_slen(key);
  int depth = 0;
  for (int32_t i = 0; i < len;) {
    if (p[i] == '"') {
      int32_t close = theater_json_close_(p, i, len);
      int32_t j = theater_skip_space_(p, close + 1, len);
      if (depth == 1 && j < len && p[j] == ':') {
        if (close - i - 1 == klen && memcmp(p + i + 1, key, (size_t)klen) == 0) {
          int32_t v = theater_skip_space_(p, j + 1, len);
          if (v < len && p[v] == '"') {
            *vlen = theater_json_close_(p, v, len) - v - 1;
            return p + v + 1;
          }
          int32_t e = v;
          while (e < len && p[e] != ',' && p[e] != '}' && p[e] != ']' && !theater_is_space_(p[e])) ++e;
          *vlen = e - v;
          return p + v;
        }
        i = j + 1;
      } else {
        i = close + 1;
      }
      continue;
    }
    if (p[i] == '{' || p[i] == '[') ++depth;
    else if (p[i] == '}' || p[i] == ']') --depth;
    ++i;
  }
  return NULL;
}

/* The command: the first word of a text message, or the "cmd" member of a JSON object. */
THEATER_NOINLINE_ const uint8_t* theater_msg_cmd(const void* msg, int32_t len, int32_t* cmd_len) {
  const uint8_t* p = (const uint8_t*)msg;
  if (theater_msg_is_json_(p, len)) {
    const uint8_t* v = theater_json_member_(p, len, "cmd", cmd_len);
    if (v) return v;
    *cmd_len = 0;
    return p;
  }
  int32_t i = theater_skip_space_(p, 0, len), e = i;
  while (e < len && !theater_is_space_(p[e])) ++e;
  *cmd_len = e - i;
  return p + i;
}
/* True if the message's command is `cmd` ("add 5", "add", {"cmd":"add"} all match "add"). */
static inline int theater_msg_is(const void* msg, int32_t len, const char* cmd) {
  int32_t n;
  const uint8_t* c = theater_msg_cmd(msg, len, &n);
  return n == theater_slen(cmd) && memcmp(c, cmd, (size_t)n) == 0;
}
/* Text messages: everything after the command word and the spaces after it (len 0 if none). */
static inline const uint8_t* theater_msg_arg(const void* msg, int32_t len, int32_t* arg_len) {
  const uint8_t* p = (const uint8_t*)msg;
  int32_t i = theater_skip_space_(p, 0, len);
  while (i < len && !theater_is_space_(p[i])) ++i;
  i = theater_skip_space_(p, i, len);
  *arg_len = len - i;
  return p + i;
}
/* The argument `key` (JSON member, or text word key=value, or the first bare text argument),
 * not copied; NULL if there is none. */
THEATER_NOINLINE_ const uint8_t* theater_msg_arg_str(const void* msg, int32_t len, const char* key, int32_t* value_len) {
  const uint8_t* p = (const uint8_t*)msg;
  if (theater_msg_is_json_(p, len)) return theater_json_member_(p, len, key, value_len);
  const int32_t klen = theater_slen(key);
  const uint8_t* bare = NULL;
  int32_t bare_len = 0, n;
  const uint8_t* a = theater_msg_arg(p, len, &n);
  for (int32_t i = 0; i < n;) {
    int32_t e = i, eq = -1;
    while (e < n && !theater_is_space_(a[e])) {
      if (a[e] == '=' && eq < 0) eq = e;
      ++e;
    }
    if (eq < 0 && !bare) {
      bare = a + i;
      bare_len = e - i;
    } else if (eq - i == klen && memcmp(a + i, key, (size_t)klen) == 0) {
      *value_len = e - eq - 1;
      return a + eq + 1;
    }
    i = theater_skip_space_(a, e, n);
  }
  *value_len = bare_len;
  return bare;
}
/* The argument `key` as an integer, or `fallback` if it is missing or not a number. */
static inline long long theater_msg_arg_int(const void* msg, int32_t len, const char* key, long long fallback) {
  int32_t n;
  const uint8_t* v = theater_msg_arg_str(msg, len, key, &n);
  return v ? theater_parse_int(v, n, fallback) : fallback;
}
/* Shorthand for theater_msg_arg_int(msg, len, "n", fallback): "add 5", {"cmd":"add","n":5}. */
static inline long long theater_msg_int(const void* msg, int32_t len, long long fallback) {
  return theater_msg_arg_int(msg, len, "n", fallback);
}
/* Length of the first word of p (up to a space or the end). */
static inline int32_t theater_word_len(const void* p, int32_t len) {
  int32_t i = 0;
  while (i < len && !theater_is_space_(((const uint8_t*)p)[i])) ++i;
  return i;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

/* ---- handler exports ----------------------------------------------------------------------- */
/* THEATER_HANDLE_X(fn) { body } defines `int32_t fn(<parameters>)` and the export that calls it,
 * then frees the argument buffers. The parameters are in the comment at each macro. */
#define THEATER_HANDLER_2_(export, wrapper, fn, T1, a1, T2, a2, free1, free2)                 \
  int32_t fn(T1 a1, T2 a2);                                                                   \
  int32_t wrapper(T1 a1, T2 a2);                                                              \
  THEATER_EXPORT(export) int32_t wrapper(T1 a1, T2 a2) {                                      \
    theater_handler_enter_();                                                                 \
    int32_t theater_status_ = fn(a1, a2);                                                     \
    theater_handler_leave_(free1, free2);                                                     \
    return theater_status_;                                                                   \
  }                                                                                           \
  int32_t fn(T1 a1 THEATER_UNUSED, T2 a2 THEATER_UNUSED)
#define THEATER_HANDLER_4_(export, wrapper, fn, a1, a2, a3, a4)                               \
  int32_t fn(const uint8_t* a1, int32_t a2, const uint8_t* a3, int32_t a4);                   \
  int32_t wrapper(const uint8_t* a1, int32_t a2, const uint8_t* a3, int32_t a4);              \
  THEATER_EXPORT(export) int32_t wrapper(const uint8_t* a1, int32_t a2, const uint8_t* a3, int32_t a4) { \
    theater_handler_enter_();                                                                 \
    int32_t theater_status_ = fn(a1, a2, a3, a4);                                             \
    theater_handler_leave_(a1, a3);                                                           \
    return theater_status_;                                                                   \
  }                                                                                           \
  int32_t fn(const uint8_t* a1 THEATER_UNUSED, int32_t a2 THEATER_UNUSED, const uint8_t* a3 THEATER_UNUSED, \
             int32_t a4 THEATER_UNUSED)

/* (state, len, reason): a fresh instance takes over; reason THEATER_FIRST_START/_RESTART/... */
#define THEATER_INIT(fn)                                                                      \
  int32_t fn(const uint8_t* state, int32_t len, int32_t reason);                             \
  int32_t theater_export_init_(const uint8_t* state, int32_t len, int32_t reason);           \
  THEATER_EXPORT("theater_init") int32_t theater_export_init_(const uint8_t* state, int32_t len, int32_t reason) { \
    theater_handler_enter_();                                                                 \
    int32_t theater_status_ = fn(state, len, reason);                                         \
    theater_handler_leave_(state, NULL);                                                      \
    return theater_status_;                                                                   \
  }                                                                                           \
  int32_t fn(const uint8_t* state THEATER_UNUSED, int32_t len THEATER_UNUSED, int32_t reason THEATER_UNUSED)
/* (msg, len) */
#define THEATER_HANDLE_SEND(fn) \
  THEATER_HANDLER_2_("theater_handle_send", theater_export_send_, fn, const uint8_t*, msg, int32_t, len, msg, NULL)
/* (msg, len): answer with theater_reply*() before returning */
#define THEATER_HANDLE_REQUEST(fn)                                                                                 \
  THEATER_HANDLER_2_("theater_handle_request", theater_export_request_, fn, const uint8_t*, msg, int32_t, len, msg, \
                     NULL)
/* (ch, ch_len) */
#define THEATER_HANDLE_CHANNEL_CLOSE(fn)                                                                     \
  THEATER_HANDLER_2_("theater_handle_channel_close", theater_export_channel_close_, fn, const uint8_t*, ch, \
                     int32_t, ch_len, ch, NULL)
/* (id, id_len, err, err_len): err is JSON {"kind":..., "message":..., "restarts":N};
 * return THEATER_CHILD_RESTART / _STOP / _ESCALATE (only with on_failure = "custom") */
#define THEATER_HANDLE_CHILD_ERROR(fn) \
  THEATER_HANDLER_4_("theater_handle_child_error", theater_export_child_error_, fn, id, id_len, err, err_len)
/* (id, id_len, result, result_len): a child stopped normally with this result */
#define THEATER_HANDLE_CHILD_EXIT(fn) \
  THEATER_HANDLER_4_("theater_handle_child_exit", theater_export_child_exit_, fn, id, id_len, result, result_len)
/* (ch, ch_len, msg, len): return THEATER_CHANNEL_ACCEPT or THEATER_CHANNEL_REFUSE */
#define THEATER_HANDLE_CHANNEL_OPEN(fn) \
  THEATER_HANDLER_4_("theater_handle_channel_open", theater_export_channel_open_, fn, ch, ch_len, msg, len)
/* (ch, ch_len, msg, len) */
#define THEATER_HANDLE_CHANNEL_MESSAGE(fn) \
  THEATER_HANDLER_4_("theater_handle_channel_message", theater_export_channel_message_, fn, ch, ch_len, msg, len)
/* (id, id_len, reason, reason_len): a monitored actor is gone for good; reason is JSON
 * {"reason":"normal"|"failure"|"killed"|"noproc"}, with "kind" and "message" for "failure" */
#define THEATER_HANDLE_DOWN(fn) \
  THEATER_HANDLER_4_("theater_handle_down", theater_export_down_, fn, id, id_len, reason, reason_len)
/* (tag): a timer set with theater_timer_set(delay_ms, tag) fired */
#define THEATER_HANDLE_TIMER(fn)                                                              \
  int32_t fn(int64_t tag);                                                                    \
  int32_t theater_export_timer_(int64_t tag);                                                 \
  THEATER_EXPORT("theater_handle_timer") int32_t theater_export_timer_(int64_t tag) {         \
    theater_handler_enter_();                                                                 \
    int32_t theater_status_ = fn(tag);                                                        \
    theater_handler_leave_(NULL, NULL);                                                       \
    return theater_status_;                                                                   \
  }                                                                                           \
  int32_t fn(int64_t tag THEATER_UNUSED)
/* (): a graceful stop (or the old instance's end before a restart); the last chance to
 * theater_state_set. Past [limits] shutdown_timeout_ms (default 5000) it is killed, uncommitted. */
#define THEATER_SHUTDOWN(fn)                                                                  \
  int32_t fn(void);                                                                           \
  int32_t theater_export_shutdown_(void);                                                     \
  THEATER_EXPORT("theater_shutdown") int32_t theater_export_shutdown_(void) {                 \
    theater_handler_enter_();                                                                 \
    int32_t theater_status_ = fn();                                                           \
    theater_handler_leave_(NULL, NULL);                                                       \
    return theater_status_;                                                                   \
  }                                                                                           \
  int32_t fn(void)

/* ---- C++: operator new/delete on malloc/free (wasi-libc has no C++ library) --------------- */
#if defined(__cplusplus) && !defined(THEATER_NO_CXX_RUNTIME)
void operator delete(void* p, __SIZE_TYPE__) noexcept;
void operator delete[](void* p, __SIZE_TYPE__) noexcept;
extern "C" void __cxa_pure_virtual(void);
THEATER_WEAK void* operator new(__SIZE_TYPE__ n) {
  void* p = malloc(n ? n : 1);
  if (!p) __builtin_trap(); /* no exceptions: out of memory is a failure of the actor */
  return p;
}
THEATER_WEAK void* operator new[](__SIZE_TYPE__ n) { return operator new(n); }
THEATER_WEAK void operator delete(void* p) noexcept { free(p); }
THEATER_WEAK void operator delete[](void* p) noexcept { free(p); }
THEATER_WEAK void operator delete(void* p, __SIZE_TYPE__) noexcept { free(p); }
THEATER_WEAK void operator delete[](void* p, __SIZE_TYPE__) noexcept { free(p); }
extern "C" THEATER_WEAK void __cxa_pure_virtual(void) { __builtin_trap(); }
#endif

#endif /* THEATER_H_ */
