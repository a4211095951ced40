/* theater.h: write Theater actors in C or C++ (wasm32-wasi). One header, nothing to link.
 *
 * An actor is a module that exports handlers; the runtime calls them with message bytes and
 * commits the state staged with theater_state_set() when a handler returns 0. Any other return
 * value, a trap, running past the deadline or past the memory limit is a failure: the staged
 * state is dropped, the instance discarded, and the parent's supervision policy applies.
 *
 *   #include "theater.h"
 *
 *   THEATER_EXPORT(theater_init)
 *   int32_t on_init(const uint8_t* state, int32_t len, int32_t reason) {
 *     theater_log_fmt(THEATER_INFO, "started (reason %d) with %d state bytes", reason, len);
 *     return 0;
 *   }
 *
 *   THEATER_EXPORT(theater_handle_request)
 *   int32_t on_request(const uint8_t* msg, int32_t len) {
 *     if (theater_msg_is(msg, len, "ping")) return theater_reply_str("pong") < 0;
 *     return theater_reply(msg, len) < 0;   // echo anything else
 *   }
 *
 * Build: clang --target=wasm32-wasi -O2 -mexec-model=reactor -Wl,--stack-first -I sdk/c -o a.wasm a.c
 * (or theater_add_actor() from sdk/cmake/TheaterActor.cmake). The manifest grants the handlers
 * (capabilities) whose functions the actor imports: message-server, supervisor, timing, random,
 * store; the rest (state, log, self_id, exit, fail) is always granted.
 *
 * Message convention used by the helpers below: text commands, a word then arguments separated
 * by spaces ("add 5", "to counter inc"). theater_msg_is() matches the first word,
 * theater_msg_arg() returns the rest after it, theater_msg_int() parses the integer after it.
 *
 * Results of variable size (a reply, a state, an id) arrive in a buffer the runtime allocates
 * with theater_alloc (defined here, malloc-based) in a theater_buf; free it with theater_buf_free.
 */
#ifndef THEATER_H_
#define THEATER_H_

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ABI constants (actor-abi.md) ---------------------------------------------------------- */
enum {
  THEATER_OK = 0,
  THEATER_EINVAL = -1,    /* bad argument or pointer */
  THEATER_ENOTFOUND = -2, /* no such actor, child, channel or blob; or no handler for it */
  THEATER_EDENIED = -3,   /* capability not granted; a channel refused */
  THEATER_ETIMEOUT = -4,
  THEATER_EFULL = -5,     /* the target's mailbox is full */
  THEATER_ESTOPPED = -6,
  THEATER_ETOOBIG = -7,
  THEATER_EFAILED = -8    /* the target failed while handling the request (runtime addition) */
};
enum { THEATER_FIRST_START = 0, THEATER_RESTART = 1, THEATER_UPGRADE = 2, THEATER_RESUME = 3 };
enum { THEATER_TRACE = 0, THEATER_DEBUG = 1, THEATER_INFO = 2, THEATER_WARN = 3, THEATER_ERROR = 4 };
enum { THEATER_CHILD_RESTART = 0, THEATER_CHILD_STOP = 1, THEATER_CHILD_ESCALATE = 2 };

#define THEATER_EXPORT(name) __attribute__((export_name(#name)))
#define THEATER_IMPORT(name) __attribute__((import_module("theater"), import_name(#name)))

/* ---- raw imports ---------------------------------------------------------------------------- */
/* always granted */
THEATER_IMPORT(state_set) int32_t theater_raw_state_set(const void* ptr, int32_t len);
THEATER_IMPORT(state_get) int32_t theater_raw_state_get(uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(self_id) int32_t theater_raw_self_id(uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(log) int32_t theater_raw_log(int32_t level, const void* ptr, int32_t len);
THEATER_IMPORT(exit) int32_t theater_raw_exit(const void* ptr, int32_t len);
THEATER_IMPORT(fail) int32_t theater_raw_fail(const void* ptr, int32_t len);
/* message-server */
THEATER_IMPORT(send) int32_t theater_raw_send(const void* to, int32_t to_len, const void* msg, int32_t msg_len);
THEATER_IMPORT(request) int32_t theater_raw_request(const void* to, int32_t to_len, const void* msg, int32_t msg_len,
                                                    int32_t timeout_ms, uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(reply) int32_t theater_raw_reply(const void* ptr, int32_t len);
THEATER_IMPORT(channel_open) int32_t theater_raw_channel_open(const void* to, int32_t to_len, const void* msg,
                                                              int32_t msg_len, uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(channel_send) int32_t theater_raw_channel_send(const void* ch, int32_t ch_len, const void* msg,
                                                              int32_t msg_len);
THEATER_IMPORT(channel_close) int32_t theater_raw_channel_close(const void* ch, int32_t ch_len);
/* supervisor */
THEATER_IMPORT(spawn) int32_t theater_raw_spawn(const void* manifest, int32_t manifest_len, const void* init,
                                                int32_t init_len, uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(stop_child) int32_t theater_raw_stop_child(const void* id, int32_t id_len);
THEATER_IMPORT(restart_child) int32_t theater_raw_restart_child(const void* id, int32_t id_len);
THEATER_IMPORT(list_children) int32_t theater_raw_list_children(uint8_t** out_ptr, int32_t* out_len);
THEATER_IMPORT(child_state) int32_t theater_raw_child_state(const void* id, int32_t id_len, uint8_t** out_ptr,
                                                            int32_t* out_len);
THEATER_IMPORT(child_events) int32_t theater_raw_child_events(const void* id, int32_t id_len, uint8_t** out_ptr,
                                                              int32_t* out_len);
THEATER_IMPORT(monitor) int32_t theater_raw_monitor(const void* id, int32_t id_len);
THEATER_IMPORT(demonitor) int32_t theater_raw_demonitor(const void* id, int32_t id_len);
/* timing */
THEATER_IMPORT(now_ms) int64_t theater_now_ms(void);
THEATER_IMPORT(timer_set) int32_t theater_timer_set(int32_t delay_ms, int64_t tag);
/* random */
THEATER_IMPORT(random_fill) int32_t theater_random_fill(void* ptr, int32_t len);
/* store */
THEATER_IMPORT(store_put) int32_t theater_raw_store_put(const void* ptr, int32_t len, uint8_t** out_ptr,
                                                        int32_t* out_len);
THEATER_IMPORT(store_get) int32_t theater_raw_store_get(const void* ref, int32_t ref_len, uint8_t** out_ptr,
                                                        int32_t* out_len);

/* ---- memory the runtime fills ------------------------------------------------------------- */

/* Every actor needs theater_alloc; this one is malloc. To supply your own, define
 * THEATER_CUSTOM_ALLOC before including this header and export
 * `void* theater_alloc(int32_t size)` yourself (return 0 when out of memory). */
#ifndef THEATER_CUSTOM_ALLOC
__attribute__((weak, export_name("theater_alloc"))) void* theater_alloc(int32_t size) {
  return malloc(size > 0 ? (size_t)size : 1);
}
#else
THEATER_EXPORT(theater_alloc) void* theater_alloc(int32_t size);
#endif

/* A result the runtime allocated for you: you own it. */
typedef struct theater_buf {
  uint8_t* ptr;
  int32_t len;
} theater_buf;

static inline void theater_buf_free(theater_buf* b) {
  free(b->ptr);
  b->ptr = NULL;
  b->len = 0;
}
/* The bytes as a NUL-terminated string (copies; free() it), or NULL. */
static inline char* theater_buf_str(const theater_buf* b) {
  char* s = (char*)malloc((size_t)b->len + 1);
  if (!s) return NULL;
  if (b->len) memcpy(s, b->ptr, (size_t)b->len);
  s[b->len] = '\0';
  return s;
}

/* ---- friendly wrappers ---------------------------------------------------------------------- */

static inline int32_t theater_slen(const char* s) { return (int32_t)strlen(s); }

static inline int32_t theater_state_set(const void* ptr, int32_t len) { return theater_raw_state_set(ptr, len); }
static inline int32_t theater_state_set_str(const char* s) { return theater_raw_state_set(s, theater_slen(s)); }
static inline int32_t theater_state_get(theater_buf* out) { return theater_raw_state_get(&out->ptr, &out->len); }
static inline int32_t theater_self_id(theater_buf* out) { return theater_raw_self_id(&out->ptr, &out->len); }

static inline int32_t theater_log(int32_t level, const char* text) {
  return theater_raw_log(level, text, theater_slen(text));
}
__attribute__((format(printf, 2, 3))) static inline int32_t theater_log_fmt(int32_t level, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return THEATER_EINVAL;
  return theater_raw_log(level, buf, n < (int)sizeof buf ? n : (int)sizeof buf - 1);
}

static inline int32_t theater_exit_str(const char* result) { return theater_raw_exit(result, theater_slen(result)); }
static inline int32_t theater_fail_str(const char* message) { return theater_raw_fail(message, theater_slen(message)); }

static inline int32_t theater_send(const char* to, const void* msg, int32_t len) {
  return theater_raw_send(to, theater_slen(to), msg, len);
}
static inline int32_t theater_send_str(const char* to, const char* msg) {
  return theater_raw_send(to, theater_slen(to), msg, theater_slen(msg));
}
/* Waits (only this actor, never a thread) for the reply; 0 timeout = the runtime's default. */
static inline int32_t theater_request(const char* to, const void* msg, int32_t len, int32_t timeout_ms,
                                      theater_buf* reply) {
  return theater_raw_request(to, theater_slen(to), msg, len, timeout_ms, &reply->ptr, &reply->len);
}
static inline int32_t theater_request_str(const char* to, const char* msg, int32_t timeout_ms, theater_buf* reply) {
  return theater_request(to, msg, theater_slen(msg), timeout_ms, reply);
}
static inline int32_t theater_reply(const void* ptr, int32_t len) { return theater_raw_reply(ptr, len); }
static inline int32_t theater_reply_str(const char* s) { return theater_raw_reply(s, theater_slen(s)); }
static inline int32_t theater_reply_int(long long v) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%lld", v);
  return theater_raw_reply(buf, n);
}

static inline int32_t theater_channel_open(const char* to, const void* msg, int32_t len, theater_buf* channel) {
  return theater_raw_channel_open(to, theater_slen(to), msg, len, &channel->ptr, &channel->len);
}
static inline int32_t theater_channel_send(const theater_buf* ch, const void* msg, int32_t len) {
  return theater_raw_channel_send(ch->ptr, ch->len, msg, len);
}
static inline int32_t theater_channel_close(const theater_buf* ch) { return theater_raw_channel_close(ch->ptr, ch->len); }

/* Spawns a child from manifest text (relative paths: this actor's manifest folder). */
static inline int32_t theater_spawn(const char* manifest_toml, const void* init, int32_t init_len, theater_buf* id) {
  return theater_raw_spawn(manifest_toml, theater_slen(manifest_toml), init, init_len, &id->ptr, &id->len);
}
static inline int32_t theater_stop_child(const char* id) { return theater_raw_stop_child(id, theater_slen(id)); }
static inline int32_t theater_restart_child(const char* id) { return theater_raw_restart_child(id, theater_slen(id)); }
static inline int32_t theater_list_children(theater_buf* json) { return theater_raw_list_children(&json->ptr, &json->len); }
static inline int32_t theater_child_state(const char* id, theater_buf* state) {
  return theater_raw_child_state(id, theater_slen(id), &state->ptr, &state->len);
}
static inline int32_t theater_child_events(const char* id, theater_buf* json) {
  return theater_raw_child_events(id, theater_slen(id), &json->ptr, &json->len);
}
static inline int32_t theater_monitor(const char* id) { return theater_raw_monitor(id, theater_slen(id)); }
static inline int32_t theater_demonitor(const char* id) { return theater_raw_demonitor(id, theater_slen(id)); }

static inline int32_t theater_store_put(const void* ptr, int32_t len, theater_buf* ref) {
  return theater_raw_store_put(ptr, len, &ref->ptr, &ref->len);
}
static inline int32_t theater_store_get(const char* ref, theater_buf* bytes) {
  return theater_raw_store_get(ref, theater_slen(ref), &bytes->ptr, &bytes->len);
}

/* ---- messages: "word args..." ------------------------------------------------------------- */

/* True if the message's first word is `word`. */
static inline int theater_msg_is(const uint8_t* msg, int32_t len, const char* word) {
  int32_t n = theater_slen(word);
  if (len < n || memcmp(msg, word, (size_t)n) != 0) return 0;
  return len == n || msg[n] == ' ';
}
/* The text after the first word and one space (len 0 if none). */
static inline const uint8_t* theater_msg_arg(const uint8_t* msg, int32_t len, int32_t* arg_len) {
  int32_t i = 0;
  while (i < len && msg[i] != ' ') ++i;
  if (i < len) ++i;
  *arg_len = len - i;
  return msg + i;
}
/* The integer after the first word, or `fallback`. */
static inline long long theater_msg_int(const uint8_t* msg, int32_t len, long long fallback) {
  int32_t n;
  const uint8_t* arg = theater_msg_arg(msg, len, &n);
  if (n <= 0) return fallback;
  long long v = 0;
  int neg = 0, i = 0, digits = 0;
  if (arg[0] == '-') neg = i = 1;
  for (; i < n && arg[i] >= '0' && arg[i] <= '9'; ++i, ++digits) v = v * 10 + (arg[i] - '0');
  return digits ? (neg ? -v : v) : fallback;
}
/* Parses a decimal integer from bytes (a state, a reply), or `fallback`. */
static inline long long theater_parse_int(const uint8_t* p, int32_t len, long long fallback) {
  long long v = 0;
  int neg = 0, i = 0, digits = 0;
  if (len > 0 && p[0] == '-') neg = i = 1;
  for (; i < len && p[i] >= '0' && p[i] <= '9'; ++i, ++digits) v = v * 10 + (p[i] - '0');
  return digits ? (neg ? -v : v) : fallback;
}

#ifdef __cplusplus
}
#endif

#endif /* THEATER_H_ */
