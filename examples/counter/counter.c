// counter: keeps a count as its state (decimal text). The state survives crashes and restarts,
// because the runtime, not the instance, owns it.
//   send "inc" | "add N"          request "get" | "inc" | "crash"
#include "theater.h"

static long long count;

static int32_t save(void) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%lld", count);
  return theater_state_set(buf, n);
}

THEATER_EXPORT(theater_init)
int32_t on_init(const uint8_t* state, int32_t len, int32_t reason) {
  count = theater_parse_int(state, len, 0);
  if (reason == THEATER_RESTART) theater_log_fmt(THEATER_INFO, "restarted with count=%lld", count);
  return 0;
}

THEATER_EXPORT(theater_handle_send)
int32_t on_send(const uint8_t* msg, int32_t len) {
  if (theater_msg_is(msg, len, "inc")) {
    ++count;
  } else if (theater_msg_is(msg, len, "add")) {
    count += theater_msg_int(msg, len, 0);
  } else {
    theater_log_fmt(THEATER_WARN, "unknown command '%.*s'", (int)len, (const char*)msg);
    return 0;
  }
  return save() < 0;
}

THEATER_EXPORT(theater_handle_request)
int32_t on_request(const uint8_t* msg, int32_t len) {
  if (theater_msg_is(msg, len, "get")) return theater_reply_int(count) < 0;
  if (theater_msg_is(msg, len, "inc")) {
    ++count;
    if (save() < 0) return 1;
    return theater_reply_int(count) < 0;
  }
  if (theater_msg_is(msg, len, "crash")) {
    // Stage a bogus state, then trap: the runtime must drop the stage and keep the last commit.
    theater_state_set_str("bogus");
    __builtin_trap();
  }
  return theater_reply_str("unknown command; try get, inc or crash") < 0;
}
