// ring_node (thread-ring): forwards a token holding the hops left to the next node, counting
// what it forwarded; the node that gets the token at 0 reports "done" to the sink. The request
// "count" answers how many tokens this node forwarded.
//   init state: the sink's id.   messages: "next <id>", then tokens "<hops>".
#include "bench.h"

static bench_id sink, next;
static long long forwarded;

THEATER_INIT(on_init) { return bench_id_set(&sink, state, len); }

THEATER_HANDLE_SEND(on_send) {
  if (len > 0 && msg[0] >= '0' && msg[0] <= '9') {
    const long long hops = theater_parse_int(msg, len, 0);
    if (hops == 0) return bench_send(&sink, "done", 4) < 0;
    char buf[24];
    int32_t k = theater_int_to_str(hops - 1, buf, (int32_t)sizeof buf);
    ++forwarded;
    return bench_send(&next, buf, k) < 0;
  }
  int32_t status;
  if (bench_setup_id(msg, len, "next", &next, &status)) return status;
  return bench_fail("ring_node: unexpected message");
}

THEATER_HANDLE_REQUEST(on_request) { return theater_reply_int(forwarded) < 0; }
