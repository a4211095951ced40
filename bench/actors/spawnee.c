// spawnee (spawn): the minimal child. Its initial state is its parent's id; it sends
// "started <own id>" there and exits normally, all in theater_init.
#include "bench.h"

THEATER_INIT(on_init) {
  bench_id parent, self;
  if (bench_id_set(&parent, state, len) || bench_self_id(&self)) return 1;
  char buf[8 + BENCH_ID_MAX] = "started ";
  memcpy(buf + 8, self.text, (size_t)self.len);
  if (bench_send(&parent, buf, 8 + self.len) < 0) return 1;
  return theater_exit(NULL, 0) < 0;
}
