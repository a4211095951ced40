// tally (counting): counts the sends it gets; the request "total" answers the count.
#include "bench.h"

static long long count;

THEATER_HANDLE_SEND(on_send) {
  ++count;
  return 0;
}

THEATER_HANDLE_REQUEST(on_request) { return theater_reply_int(count) < 0; }
