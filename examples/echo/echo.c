// echo: a request is answered with its own bytes; a send is logged.
#include "theater.h"

THEATER_EXPORT(theater_handle_request)
int32_t on_request(const uint8_t* msg, int32_t len) { return theater_reply(msg, len) < 0; }

THEATER_EXPORT(theater_handle_send)
int32_t on_send(const uint8_t* msg, int32_t len) {
  theater_log_fmt(THEATER_INFO, "echo: %.*s", (int)len, (const char*)msg);
  return 0;
}
