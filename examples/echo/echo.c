// echo: a request is answered with its own bytes; a send is logged.
#include "theater.h"

THEATER_HANDLE_REQUEST(on_request) { return theater_reply(msg, len) < 0; }

THEATER_HANDLE_SEND(on_send) {
  theater_log_fmt(THEATER_INFO, "echo: %.*s", (int)len, (const char*)msg);
  return 0;
}
