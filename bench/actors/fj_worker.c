// fj_worker (fork-join): each "work" message costs 100 rounds of x = x * 1103515245 + 12345 on a
// 32-bit unsigned x (starting at 1, kept across messages). After its n-th message the worker
// reports "done <x>" to the sink.
//   init state: "<n> <sink id>".
#include "bench.h"

#define ITERATIONS 100

static bench_id sink;
static long long left;
static uint32_t x = 1;

THEATER_INIT(on_init) {
  int32_t n;
  const uint8_t* id = bench_word(state, len, 1, &n);
  left = bench_word_int(state, len, 0, 1);
  return !id || bench_id_set(&sink, id, n);
}

THEATER_HANDLE_SEND(on_send) {
  for (int i = 0; i < ITERATIONS; ++i) x = x * 1103515245u + 12345u;
  if (--left == 0) return bench_send_word_int(&sink, "done", (long long)x) < 0;
  return 0;
}
