// spawner (spawn): on "go <n>", spawns a spawnee (the `spawn` import, manifest text), waits for
// its "started <id>" and spawns the next, n times; then reports "done <started>" to the sink.
// Only the child just spawned counts: a "started" from any other is an error.
//   init state: the sink's id.
#include "bench.h"

static const char kChild[] =
    "name = \"spawnee\"\n"
    "component = \"spawnee.wasm\"\n"
    "handlers = [\"message-server\"]\n"
    "restart = \"temporary\"\n";

static bench_id sink, self, child;
static long long total, started;

static int32_t spawn_next(void) {
  theater_buf id = {0, 0};
  if (theater_spawn(kChild, (int32_t)sizeof kChild - 1, self.text, self.len, &id) < 0) {
    return bench_fail("spawner: spawn failed");
  }
  int rc = bench_id_set(&child, id.ptr, id.len);
  theater_buf_free(&id);
  return rc;
}

THEATER_INIT(on_init) { return bench_id_set(&sink, state, len) || bench_self_id(&self); }

THEATER_HANDLE_SEND(on_send) {
  if (bench_is(msg, len, "started")) {
    int32_t n;
    const uint8_t* id = bench_word(msg, len, 1, &n);
    if (!id || !bench_id_eq(&child, id, n)) return bench_fail("spawner: started from a stranger");
    if (++started < total) return spawn_next();
    return bench_send_word_int(&sink, "done", started) < 0;
  }
  if (bench_is(msg, len, "go")) {
    total = bench_word_int(msg, len, 1, 1);
    started = 0;
    return spawn_next();
  }
  return bench_fail("spawner: unexpected message");
}
