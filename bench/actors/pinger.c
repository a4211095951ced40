// pinger (ping-pong): sends "ping" to its responder and, on each "pong k", checks that k is the
// number of this round, then sends the next ping. After the last round it reports
// "done <replies in order>" to the sink.
//   init state: the sink's id.   messages: "peer <responder id>", "go <rounds>", "pong <k>".
#include "bench.h"

static bench_id sink, peer;
static long long rounds, round_no, in_order;

THEATER_INIT(on_init) { return bench_id_set(&sink, state, len); }

THEATER_HANDLE_SEND(on_send) {
  if (bench_is(msg, len, "pong")) {
    if (bench_word_int(msg, len, 1, -1) == round_no) ++in_order;
    if (round_no == rounds) return bench_send_word_int(&sink, "done", in_order) < 0;
    ++round_no;
    return bench_send(&peer, "ping", 4) < 0;
  }
  if (bench_is(msg, len, "go")) {
    rounds = bench_word_int(msg, len, 1, 1);
    round_no = 1;
    in_order = 0;
    return bench_send(&peer, "ping", 4) < 0;
  }
  int32_t status;
  if (bench_setup_id(msg, len, "peer", &peer, &status)) return status;
  return bench_fail("pinger: unexpected message");
}
