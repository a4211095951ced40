// pong: answers request "ping N" with "pong N".
#include "theater.h"

THEATER_EXPORT(theater_handle_request)
int32_t on_request(const uint8_t* msg, int32_t len) {
  if (!theater_msg_is(msg, len, "ping")) return theater_reply_str("expected: ping N") < 0;
  char buf[40];
  int n = snprintf(buf, sizeof buf, "pong %lld", theater_msg_int(msg, len, 0));
  return theater_reply(buf, n) < 0;
}
