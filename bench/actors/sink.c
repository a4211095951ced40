// sink: where a workload's actors report. Its initial state is how many reports to expect; it
// keeps each report (one line each) and, with the last one, exits with all of them as its
// result. `theater bench` waits for that exit and checks the lines.
#include "bench.h"

static long long expected, received;
static char* lines;
static int32_t used, capacity;

THEATER_INIT(on_init) {
  expected = theater_parse_int(state, len, 1);
  return 0;
}

THEATER_HANDLE_SEND(on_send) {
  if (used + len + 1 > capacity) {
    int32_t want = capacity ? capacity * 2 : 4096;
    while (want < used + len + 1) want *= 2;
    char* grown = (char*)realloc(lines, (size_t)want);
    if (!grown) return bench_fail("sink: out of memory");
    lines = grown;
    capacity = want;
  }
  memcpy(lines + used, msg, (size_t)len);
  used += len;
  lines[used++] = '\n';
  if (++received == expected) return theater_exit(lines, used) < 0;
  return 0;
}
