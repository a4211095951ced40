// counter: keeps a count as its state (decimal text). The runtime, not the instance, owns the
// state, so the count survives crashes and restarts.
//   send    "inc"                 adds 1
//   send    "add N"               adds N (also {"cmd":"add","n":N})
//   request "get"                 replies the count
//   request "inc" | "add N"       as the sends, and replies the new count
//   request "crash"               stages a bogus state, then traps: the stage is dropped
// A restart (init reason 1) logs "restarted with count=N".
#include "theater.h"

static long long count;

THEATER_INIT(on_init) {
  count = theater_parse_int(state, len, 0);
  if (reason == THEATER_RESTART) theater_log_fmt(THEATER_INFO, "restarted with count=%lld", count);
  return 0;
}

// Applies "inc" / "add N"; returns 0 if the message was not one of them.
static int apply(const uint8_t* msg, int32_t len) {
  if (theater_msg_is(msg, len, "inc")) {
    count += 1;
  } else if (theater_msg_is(msg, len, "add")) {
    count += theater_msg_int(msg, len, 0);
  } else {
    return 0;
  }
  return 1;
}

THEATER_HANDLE_SEND(on_send) {
  if (!apply(msg, len)) {
    theater_log_fmt(THEATER_WARN, "unknown command '%.*s'", (int)len, (const char*)msg);
    return 0;
  }
  return theater_state_set_int(count) < 0;  // committed when we return 0
}

THEATER_HANDLE_REQUEST(on_request) {
  if (theater_msg_is(msg, len, "get")) return theater_reply_int(count) < 0;
  if (apply(msg, len)) {
    if (theater_state_set_int(count) < 0) return 1;
    return theater_reply_int(count) < 0;
  }
  if (theater_msg_is(msg, len, "crash")) {
    // Stage a bogus state, then trap: the runtime must drop the stage and keep the last commit.
    theater_state_set_str("bogus");
    __builtin_trap();
  }
  return theater_reply_str("unknown command; try get, inc, add N or crash") < 0;
}
