// requester (request): on "go <n>", makes n requests "ping" to its server one after another,
// waiting for each reply, and counts the replies that carry the number of their request. Then
// it reports "done <replies in order>" to the sink.
//   init state: the sink's id.   messages: "peer <server id>", "go <n>".
#include "bench.h"

static bench_id sink, server;

THEATER_INIT(on_init) { return bench_id_set(&sink, state, len); }

THEATER_HANDLE_SEND(on_send) {
  int32_t status;
  if (bench_setup_id(msg, len, "peer", &server, &status)) return status;
  if (!bench_is(msg, len, "go")) return bench_fail("requester: unexpected message");
  const long long n = bench_word_int(msg, len, 1, 1);
  long long in_order = 0;
  for (long long i = 1; i <= n; ++i) {
    theater_buf reply = {0, 0};
    if (theater_request(server.text, server.len, "ping", 4, 60000, &reply) < 0) {
      return bench_fail("requester: a request failed");
    }
    if (theater_parse_int(reply.ptr, reply.len, -1) == i) ++in_order;
    theater_buf_free(&reply);
  }
  return bench_send_word_int(&sink, "done", in_order) < 0;
}
