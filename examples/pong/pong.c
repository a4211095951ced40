// pong: answers request "ping N" with "pong N" (a send "ping N" is just logged).
#include "theater.h"

THEATER_HANDLE_REQUEST(on_request) {
  if (!theater_msg_is(msg, len, "ping")) return theater_reply_str("expected: ping N") < 0;
  return theater_reply_fmt("pong %lld", theater_msg_int(msg, len, 0)) < 0;
}

THEATER_HANDLE_SEND(on_send) {
  theater_log_fmt(THEATER_DEBUG, "got a send: %.*s", (int)len, (const char*)msg);
  return 0;
}
