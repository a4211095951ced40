// fj_sender (fork-join): on "go <rounds> <worker id>...", sends "work" to every worker in
// turn, `rounds` times over (round-robin).
#include "bench.h"

#define MAX_WORKERS 1024

static bench_id workers[MAX_WORKERS];

THEATER_HANDLE_SEND(on_send) {
  if (!bench_is(msg, len, "go")) return bench_fail("fj_sender: unexpected message");
  const long long rounds = bench_word_int(msg, len, 1, 1);
  int32_t count = 0, n;
  const uint8_t* id;
  while (count < MAX_WORKERS && (id = bench_word(msg, len, count + 2, &n)) != NULL) {
    if (bench_id_set(&workers[count++], id, n)) return bench_fail("fj_sender: bad worker id");
  }
  for (long long r = 0; r < rounds; ++r) {
    for (int32_t w = 0; w < count; ++w) {
      if (bench_send(&workers[w], "work", 4) < 0) return bench_fail("fj_sender: a send failed");
    }
  }
  return 0;
}
