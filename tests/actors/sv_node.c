// sv_node: one configurable actor for the supervision conformance suite (tests/supervision/) and
// the restart benchmark. It plays a worker or a supervisor: a supervisor is simply an sv_node whose
// manifest has [[children]] and a [supervision] table (the runtime starts and supervises them).
//
// Messages (send):
//   "crash"        traps (kind "trap")
//   "fail_timed"   fails with the message "t0=<monotonic ns>" (the restart benchmark's clock start)
//   "exit"         stops normally (theater_exit "normal")
//   "busy <ms>"    computes for ms milliseconds
//   "hang"         loops until the handler deadline kills it
//   "busy_then_ask <id>"  computes for 300 ms, then requests "ping" of <id> (60 s timeout)
//   "mark <tag>"   logs "mark <tag>" (shows which instance handled a message)
// Requests:
//   "ping"         replies "pong"
//   "clock"        replies the monotonic clock in ns (same clock as the host's steady_clock)
//   "monitor <id>" / "demonitor <id>"   replies the import's rc
//   "spawn <manifest TOML>"             spawns a child (a dynamic one, as OTP's start_child);
//                                       replies its id, or the rc
//   "downs"        replies the down notices received so far, one "<id> <reason>" per line
//   "state"        replies the committed state
// Switches that outlive the actor's identity (set by the test, read at every theater_init):
//   environment SV_INIT_FAIL = "sha256:<ref>": while the store holds that blob, init fails
//   environment SV_SLOW_INIT = "sha256:<ref>": while the store holds that blob, init computes for
//                SV_SLOW_INIT_MS milliseconds first
//   environment SV_HANG_SHUTDOWN = "1": theater_shutdown stages "shutdown-started" then loops forever;
//                = "wait <id>": it stages that, then makes a request to actor <id> with a 60 s
//                timeout (the test keeps <id> too busy to answer)
//   (otherwise theater_shutdown logs "shutdown")
// theater_handle_down appends "<id> <reason>" to the down notices (kept in the committed state).
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "theater.h"

static long long monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void busy_ms(long long ms) {
  const long long until = monotonic_ns() + ms * 1000000LL;
  volatile unsigned x = 1;
  while (monotonic_ns() < until) {
    for (int i = 0; i < 1000; ++i) x = x * 1103515245u + 12345u;
  }
}

// Whether the store holds the blob named by environment variable `var`.
static int switch_on(const char* var) {
  const char* ref = getenv(var);
  if (!ref || !*ref) return 0;
  theater_buf b = {0, 0};
  int32_t rc = theater_store_get_str(ref, &b);
  theater_buf_free(&b);
  return rc >= 0;
}

// The down notices, as committed: "downs:" then one notice per line.
static char downs[4096];
static int32_t downs_len;

THEATER_INIT(on_init) {
  if (len > 6 && memcmp(state, "downs:", 6) == 0 && len - 6 < (int32_t)sizeof downs) {
    downs_len = len - 6;
    memcpy(downs, state + 6, (size_t)downs_len);
  }
  if (switch_on("SV_INIT_FAIL")) return theater_fail_str("init failed (switch)") < 0 ? 1 : 0;
  if (switch_on("SV_SLOW_INIT")) {
    const char* ms = getenv("SV_SLOW_INIT_MS");
    busy_ms(ms ? atoll(ms) : 100);
  }
  return 0;
}

static int32_t commit_downs(void) {
  char buf[sizeof downs + 8];
  int n = snprintf(buf, sizeof buf, "downs:%.*s", (int)downs_len, downs);
  return theater_state_set(buf, n);
}

THEATER_HANDLE_SEND(on_send) {
  if (theater_msg_is(msg, len, "crash")) __builtin_trap();
  if (theater_msg_is(msg, len, "fail_timed")) {
    char text[48];
    snprintf(text, sizeof text, "t0=%lld", monotonic_ns());
    theater_fail_str(text);
    return 0;
  }
  if (theater_msg_is(msg, len, "exit")) return theater_exit_str("normal") < 0;
  if (theater_msg_is(msg, len, "busy")) {
    busy_ms(theater_msg_int(msg, len, 100));
    return 0;
  }
  if (theater_msg_is(msg, len, "hang")) {
    for (;;) busy_ms(1000);
  }
  if (theater_msg_is(msg, len, "busy_then_ask")) {
    int32_t n = 0;
    const uint8_t* arg = theater_msg_arg(msg, len, &n);
    char id[128];
    if (!arg || n >= (int32_t)sizeof id) return 1;
    memcpy(id, arg, (size_t)n);
    busy_ms(300);
    theater_buf answer = {0, 0};
    theater_request(id, n, "ping", 4, 60000, &answer);
    theater_buf_free(&answer);
    return 0;
  }
  if (theater_msg_is(msg, len, "mark")) {
    int32_t n = 0;
    const uint8_t* tag = theater_msg_arg(msg, len, &n);
    theater_log_fmt(THEATER_INFO, "mark %.*s", (int)n, (const char*)tag);
    return 0;
  }
  return 0;
}

THEATER_HANDLE_REQUEST(on_request) {
  if (theater_msg_is(msg, len, "ping")) return theater_reply_str("pong") < 0;
  if (theater_msg_is(msg, len, "clock")) return theater_reply_int(monotonic_ns()) < 0;
  if (theater_msg_is(msg, len, "monitor") || theater_msg_is(msg, len, "demonitor")) {
    int32_t n = 0;
    const uint8_t* id = theater_msg_arg(msg, len, &n);
    int32_t rc = theater_msg_is(msg, len, "monitor") ? theater_monitor(id, n) : theater_demonitor(id, n);
    return theater_reply_int(rc) < 0;
  }
  if (theater_msg_is(msg, len, "spawn")) {
    int32_t n = 0;
    const uint8_t* text = theater_msg_arg(msg, len, &n);
    theater_buf id = {0, 0};
    int32_t rc = theater_spawn(text, n, "", 0, &id);
    if (rc < 0) return theater_reply_int(rc) < 0;
    rc = theater_reply(id.ptr, id.len);
    theater_buf_free(&id);
    return rc < 0;
  }
  if (theater_msg_is(msg, len, "downs")) return theater_reply(downs, downs_len) < 0;
  if (theater_msg_is(msg, len, "state")) {
    theater_buf b = {0, 0};
    theater_state_get(&b);
    int32_t rc = theater_reply(b.ptr, b.len);
    theater_buf_free(&b);
    return rc < 0;
  }
  return theater_reply_str("unknown") < 0;
}

THEATER_HANDLE_DOWN(on_down) {
  int n = snprintf(downs + downs_len, sizeof downs - (size_t)downs_len, "%.*s %.*s\n", (int)id_len,
                   (const char*)id, (int)reason_len, (const char*)reason);
  if (n > 0 && downs_len + n < (int32_t)sizeof downs) downs_len += n;
  return commit_downs() < 0;
}

THEATER_SHUTDOWN(on_shutdown) {
  const char* hang = getenv("SV_HANG_SHUTDOWN");
  if (hang && *hang == '1') {
    theater_state_set_str("shutdown-started");
    for (;;) busy_ms(1000);
  }
  if (hang && strncmp(hang, "wait ", 5) == 0) {
    theater_state_set_str("shutdown-started");
    theater_buf answer = {0, 0};
    theater_request(hang + 5, theater_slen(hang + 5), "ping", 4, 60000, &answer);
    return 0;
  }
  theater_log(THEATER_INFO, "shutdown");
  return 0;
}
