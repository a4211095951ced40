// versioned: one source, three builds, for hot code upgrade tests (tests/state/upgrade.test.cpp).
//   versioned_v1.wasm      VERSION=1
//   versioned_v2.wasm      VERSION=2
//   versioned_broken.wasm  VERSION=3, BROKEN: traps in theater_init when it is an upgrade (reason 2)
// State: the count, as decimal text (the same in every version).
//   send    "inc"      adds 1
//   request "inc"      adds 1, replies the count
//   request "get"      replies "v<VERSION> count=<N> init=<reason of this instance's init>"
#include "theater.h"

#ifndef VERSION
#define VERSION 1
#endif

static long long count;
static int init_reason = -1;

THEATER_INIT(on_init) {
  count = theater_parse_int(state, len, 0);
  init_reason = (int)reason;
#ifdef BROKEN
  if (reason == THEATER_UPGRADE) __builtin_trap();
#endif
  if (reason == THEATER_UPGRADE) theater_log_fmt(THEATER_INFO, "v%d took over with count=%lld", VERSION, count);
  return 0;
}

THEATER_HANDLE_SEND(on_send) {
  if (!theater_msg_is(msg, len, "inc")) return 0;
  count += 1;
  return theater_state_set_int(count) < 0;
}

THEATER_HANDLE_REQUEST(on_request) {
  if (theater_msg_is(msg, len, "inc")) {
    count += 1;
    if (theater_state_set_int(count) < 0) return 1;
    return theater_reply_int(count) < 0;
  }
  return theater_reply_fmt("v%d count=%lld init=%d", VERSION, count, init_reason) < 0;
}
