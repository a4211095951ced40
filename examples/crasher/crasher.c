// crasher: fails on command, in every way an untrusted actor can. Its state counts the messages
// it handled successfully, so a restart visibly keeps what was committed.
//   "trap"   executes unreachable           "loop"  never returns (ends at the handler deadline)
//   "oom"    grows memory until the limit   "fail"  calls theater_fail
//   "status" returns a non-zero status      "exit"  stops normally (theater_exit)
//   anything else: replies (or logs) "ok, handled N"
#include "theater.h"

static long long handled;

THEATER_EXPORT(theater_init)
int32_t on_init(const uint8_t* state, int32_t len, int32_t reason) {
  handled = theater_parse_int(state, len, 0);
  if (reason == THEATER_RESTART) theater_log_fmt(THEATER_INFO, "back after a failure; handled %lld so far", handled);
  return 0;
}

// Returns the handler status; for requests, replies on success.
static int32_t handle(const uint8_t* msg, int32_t len, int is_request) {
  if (theater_msg_is(msg, len, "trap")) __builtin_trap();
  if (theater_msg_is(msg, len, "loop")) {
    for (volatile unsigned long i = 0;; ++i) {
    }
  }
  if (theater_msg_is(msg, len, "oom")) {
    for (;;) {
      volatile char* block = (volatile char*)malloc(1 << 20);
      if (!block) return theater_fail_str("malloc returned NULL"), 0;
      for (int i = 0; i < (1 << 20); i += 4096) block[i] = 1;  // touch it: it is really used
    }
  }
  if (theater_msg_is(msg, len, "fail")) return theater_fail_str("asked to fail"), 0;
  if (theater_msg_is(msg, len, "status")) return 1;
  if (theater_msg_is(msg, len, "exit")) return theater_exit_str("bye"), 0;
  ++handled;
  char buf[48];
  int n = snprintf(buf, sizeof buf, "%lld", handled);
  if (theater_state_set(buf, n) < 0) return 1;
  n = snprintf(buf, sizeof buf, "ok, handled %lld", handled);
  if (is_request) return theater_reply(buf, n) < 0;
  theater_log(THEATER_INFO, buf);
  return 0;
}

THEATER_EXPORT(theater_handle_request)
int32_t on_request(const uint8_t* msg, int32_t len) { return handle(msg, len, 1); }

THEATER_EXPORT(theater_handle_send)
int32_t on_send(const uint8_t* msg, int32_t len) { return handle(msg, len, 0); }
