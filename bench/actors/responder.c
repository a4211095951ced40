// responder (ping-pong, request): numbers what it answers, 1, 2, ... As a send, "ping" is
// answered with the send "pong <k>" to its peer; as a request, "ping" is answered with the reply
// "<k>". The request "count" answers how many pings it has answered so far.
//   messages: "peer <id>" (for sends), "ping".
#include "bench.h"

static bench_id peer;
static long long answered;

THEATER_HANDLE_SEND(on_send) {
  if (bench_is(msg, len, "ping")) return bench_send_word_int(&peer, "pong", ++answered) < 0;
  int32_t status;
  if (bench_setup_id(msg, len, "peer", &peer, &status)) return status;
  return bench_fail("responder: unexpected message");
}

THEATER_HANDLE_REQUEST(on_request) {
  if (bench_is(msg, len, "ping")) return theater_reply_int(++answered) < 0;
  if (bench_is(msg, len, "count")) return theater_reply_int(answered) < 0;
  return bench_fail("responder: unexpected request");
}
