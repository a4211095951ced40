// recorder: an actor whose state depends on the outside world, for event chain and replay tests
// (tests/state/replay.test.cpp). Every input it takes goes through a host call the runtime records.
//   request "roll"     8 random bytes (random_fill), the time (now_ms), the WASI clock and
//                      getentropy (clock_time_get, random_get), a blob put and read back; commits
//                      "n=<count> r=<hex> t=<ms> ..." and replies it
//   send    "tick N"   sets a timer of N ms; when it fires, the state records its tag
//   request "get"      replies the state
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "theater.h"

static char current[512];
static long long count;

THEATER_INIT(on_init) {
  const int32_t n = len < (int32_t)sizeof current - 1 ? len : (int32_t)sizeof current - 1;
  memcpy(current, state, (size_t)n);
  current[n] = '\0';
  const char* c = strstr(current, "n=");
  count = c ? theater_parse_int(c + 2, theater_slen(c + 2), 0) : 0;
  return 0;
}

static int32_t commit(void) { return theater_state_set_str(current) < 0; }

static int32_t roll(void) {
  uint8_t r[8];
  if (theater_random_fill(r, sizeof r) < 0) return 1;
  const long long now = (long long)theater_now_ms();
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint8_t e[4];
  if (getentropy(e, sizeof e) != 0) return 1;
  char blob[64];
  snprintf(blob, sizeof blob, "blob %02x%02x", r[0], r[1]);
  theater_buf ref = {0, 0}, back = {0, 0};
  if (theater_store_put_str(blob, &ref) < 0) return 1;
  int ok = theater_store_get(ref.ptr, ref.len, &back) >= 0 && back.len == theater_slen(blob) &&
           memcmp(back.ptr, blob, (size_t)back.len) == 0;
  theater_buf_free(&ref);
  theater_buf_free(&back);
  ++count;
  snprintf(current, sizeof current, "n=%lld r=%02x%02x%02x%02x%02x%02x%02x%02x t=%lld c=%lld e=%02x%02x%02x%02x ok=%d",
           count, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], now, (long long)ts.tv_nsec, e[0], e[1], e[2], e[3], ok);
  return commit();
}

THEATER_HANDLE_REQUEST(on_request) {
  if (theater_msg_is(msg, len, "roll")) {
    if (roll()) return 1;
    return theater_reply_str(current) < 0;
  }
  return theater_reply_str(current) < 0;
}

THEATER_HANDLE_SEND(on_send) {
  if (theater_msg_is(msg, len, "tick")) return theater_timer_set((int32_t)theater_msg_int(msg, len, 1), ++count) < 0;
  if (theater_msg_is(msg, len, "roll")) return roll();
  return 0;
}

THEATER_HANDLE_TIMER(on_timer) {
  char more[64];
  snprintf(more, sizeof more, " timer=%lld", (long long)tag);
  if (strlen(current) + strlen(more) < sizeof current) strcat(current, more);
  return commit();
}
