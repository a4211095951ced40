// producer (counting): on "go <n>", sends n "inc" to its counter, then asks it (a request) for
// the total and reports "done <total>" to the sink.
//   init state: the sink's id.   messages: "peer <counter id>", "go <n>".
#include "bench.h"

static bench_id sink, counter;

THEATER_INIT(on_init) { return bench_id_set(&sink, state, len); }

THEATER_HANDLE_SEND(on_send) {
  int32_t status;
  if (bench_setup_id(msg, len, "peer", &counter, &status)) return status;
  if (!bench_is(msg, len, "go")) return bench_fail("producer: unexpected message");
  const long long n = bench_word_int(msg, len, 1, 1);
  for (long long i = 0; i < n; ++i) {
    if (bench_send(&counter, "inc", 3) < 0) return bench_fail("producer: a send failed");
  }
  theater_buf total = {0, 0};
  if (theater_request(counter.text, counter.len, "total", 5, 60000, &total) < 0) {
    return bench_fail("producer: the total request failed");
  }
  long long t = theater_parse_int(total.ptr, total.len, -1);
  theater_buf_free(&total);
  return bench_send_word_int(&sink, "done", t) < 0;
}
