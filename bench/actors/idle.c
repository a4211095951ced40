// idle (memory, memory-hibernated): does nothing but exist. Its init runs once (so its instance
// holds what a started actor holds); a send is counted; the request "count" answers the count.
#include "bench.h"

static long long received;

THEATER_HANDLE_SEND(on_send) {
  ++received;
  return 0;
}

THEATER_HANDLE_REQUEST(on_request) { return theater_reply_int(received) < 0; }
