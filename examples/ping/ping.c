// ping: spawns its own pong child at first start (manifest text passed to spawn; the relative
// component path resolves against ping's manifest folder) and keeps pong's id as its state.
//   request "run N": N request round trips to pong, replies "N round trips in T ms".
#include "theater.h"

static char pong_id[128];

THEATER_EXPORT(theater_init)
int32_t on_init(const uint8_t* state, int32_t len, int32_t reason) {
  if (len > 0 && len < (int32_t)sizeof pong_id) {  // restart: pong is still our child
    memcpy(pong_id, state, (size_t)len);
    pong_id[len] = '\0';
    return 0;
  }
  theater_buf id = {0, 0};
  int32_t rc = theater_spawn("name = \"pong\"\ncomponent = \"pong.wasm\"\nhandlers = [\"message-server\"]\n",
                             "", 0, &id);
  if (rc < 0 || id.len >= (int32_t)sizeof pong_id) return 1;
  memcpy(pong_id, id.ptr, (size_t)id.len);
  pong_id[id.len] = '\0';
  theater_buf_free(&id);
  theater_log_fmt(THEATER_INFO, "spawned %s (reason %d)", pong_id, reason);
  return theater_state_set_str(pong_id) < 0;
}

THEATER_EXPORT(theater_handle_request)
int32_t on_request(const uint8_t* msg, int32_t len) {
  if (!theater_msg_is(msg, len, "run")) return theater_reply_str("expected: run N") < 0;
  long long n = theater_msg_int(msg, len, 1);
  int64_t start = theater_now_ms();
  for (long long i = 1; i <= n; ++i) {
    char out[40], expect[40];
    snprintf(out, sizeof out, "ping %lld", i);
    int en = snprintf(expect, sizeof expect, "pong %lld", i);
    theater_buf reply = {0, 0};
    int32_t rc = theater_request_str(pong_id, out, 5000, &reply);
    if (rc < 0) {
      theater_log_fmt(THEATER_ERROR, "request %lld failed: %d", i, rc);
      return theater_reply_str("failed") < 0;
    }
    int ok = reply.len == en && memcmp(reply.ptr, expect, (size_t)en) == 0;
    theater_buf_free(&reply);
    if (!ok) return theater_fail_str("pong answered out of order");
  }
  char buf[80];
  int bn = snprintf(buf, sizeof buf, "%lld round trips in %lld ms", n, (long long)(theater_now_ms() - start));
  theater_log(THEATER_INFO, buf);
  return theater_reply(buf, bn) < 0;
}
