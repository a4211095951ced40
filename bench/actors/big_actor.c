// big_actor (big): learns its peers from "peers <me> <pings> <id>...", where <me> is its own
// place in the list. On "go" it sends "ping <me>" to a random other peer, and the next one when
// the pong for it comes back, <pings> times. It answers every "ping <i>" with "pong" to peer i.
// After its last pong it reports "done" to the sink (and keeps answering). The request "stats"
// answers "<pongs received> <pings answered>".
//   init state: the sink's id.
#include "bench.h"

#define MAX_PEERS 1024

// The peers' ids stay in the "peers" message (kept), found by offset and length: a compact
// table, as a tuple of pids is in Erlang.
static bench_id sink;
static char* table;
static struct {
  int32_t at, len;
} peers[MAX_PEERS];
static int32_t npeers, me;

static int32_t send_to_peer(int32_t i, const void* msg, int32_t len) {
  return theater_send(table + peers[i].at, peers[i].len, msg, len);
}
static long long left, pongs, answered;
static uint64_t rng;

static uint32_t next_random(void) {  // xorshift64*
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (uint32_t)((rng * 2685821657736338717ULL) >> 32);
}

static int32_t send_ping(void) {
  int32_t peer = (int32_t)(next_random() % (uint32_t)(npeers - 1));
  if (peer >= me) ++peer;
  --left;
  char buf[32] = "ping ";
  int32_t k = theater_int_to_str(me, buf + 5, (int32_t)sizeof buf - 5);
  return send_to_peer(peer, buf, 5 + k) < 0;
}

THEATER_INIT(on_init) { return bench_id_set(&sink, state, len); }

THEATER_HANDLE_SEND(on_send) {
  if (bench_is(msg, len, "ping")) {
    const long long from = bench_word_int(msg, len, 1, -1);
    if (from < 0 || from >= npeers) return bench_fail("big_actor: ping from nobody");
    ++answered;
    return send_to_peer((int32_t)from, "pong", 4) < 0;
  }
  if (bench_is(msg, len, "pong")) {
    ++pongs;
    if (left > 0) return send_ping();
    return bench_send(&sink, "done", 4) < 0;
  }
  if (bench_is(msg, len, "peers")) {
    me = (int32_t)bench_word_int(msg, len, 1, 0);
    left = bench_word_int(msg, len, 2, 1);
    free(table);
    table = (char*)malloc((size_t)len);
    if (!table) return bench_fail("big_actor: out of memory");
    memcpy(table, msg, (size_t)len);
    // One pass over the words after "peers <me> <pings>".
    npeers = 0;
    for (int32_t i = 0, word = 0; i < len && npeers < MAX_PEERS;) {
      while (i < len && msg[i] == ' ') ++i;
      int32_t end = i;
      while (end < len && msg[end] != ' ') ++end;
      if (end > i && word++ >= 3) {
        peers[npeers].at = i;
        peers[npeers++].len = end - i;
      }
      i = end;
    }
    if (npeers < 2 || me >= npeers) return bench_fail("big_actor: bad peer list");
    rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(me + 1);
    return 0;
  }
  if (bench_is(msg, len, "go")) {
    if (npeers < 2) return bench_fail("big_actor: go before peers");
    return send_ping();
  }
  return bench_fail("big_actor: unexpected message");
}

THEATER_HANDLE_REQUEST(on_request) { return theater_reply_fmt("%lld %lld", pongs, answered) < 0; }
