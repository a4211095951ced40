// ping: does request round trips to a pong actor and measures them.
//
// How ping finds pong: it spawns pong as its own child at first start, from manifest text (the
// relative component path "pong.wasm" resolves against ping's manifest folder, so ping.toml and
// pong.wasm sit side by side), and keeps pong's id as its committed state. A later instance (a
// restart, an upgrade, a resume) gets that id back in theater_init and checks with
// list_children that pong is still its child; if not, it spawns a new one.
//
//   request "run N"    N round trips; replies "N round trips in T ms"
//   send    "start N"  the same, reported in the log only
// Each round trip sends "ping i" and expects "pong i"; anything else is a failure of ping.
#include "theater.h"

static const char kPongManifest[] =
    "name = \"pong\"\n"
    "component = \"pong.wasm\"\n"
    "handlers = [\"message-server\"]\n";

static char pong_id[128];

// True if `id` is in our list of children.
static int is_my_child(const char* id) {
  theater_buf list = {0, 0};
  if (theater_list_children(&list) < 0) return 0;
  int found = 0;
  const char* s;
  int32_t n;
  for (int32_t i = 0; !found && (n = theater_json_array_str(list.ptr, list.len, i, &s)) >= 0; ++i) {
    found = n == theater_slen(id) && memcmp(s, id, (size_t)n) == 0;
  }
  theater_buf_free(&list);
  return found;
}

THEATER_INIT(on_init) {
  if (len > 0 && len < (int32_t)sizeof pong_id) {
    memcpy(pong_id, state, (size_t)len);
    pong_id[len] = '\0';
    if (is_my_child(pong_id)) return 0;
  }
  theater_buf id = {0, 0};
  int32_t rc = theater_spawn_str(kPongManifest, "", &id);
  if (rc < 0 || id.len >= (int32_t)sizeof pong_id) {
    theater_log_fmt(THEATER_ERROR, "cannot spawn pong: rc %d", (int)rc);
    return 1;
  }
  memcpy(pong_id, id.ptr, (size_t)id.len);
  pong_id[id.len] = '\0';
  theater_buf_free(&id);
  theater_log_fmt(THEATER_INFO, "spawned %s (init reason %d)", pong_id, (int)reason);
  return theater_state_set_str(pong_id) < 0;
}

// n round trips; writes a summary into out. Returns the handler status.
static int32_t run(long long n, char* out, int32_t out_size) {
  const int64_t start = theater_now_ms();
  for (long long i = 1; i <= n; ++i) {
    char ping[32], expect[32];
    snprintf(ping, sizeof ping, "ping %lld", i);
    const int en = snprintf(expect, sizeof expect, "pong %lld", i);
    const int64_t t0 = n <= 10 ? theater_now_ms() : 0;
    theater_buf reply = {0, 0};
    const int32_t rc = theater_request_str(pong_id, ping, 5000, &reply);
    if (rc < 0) {
      snprintf(out, (size_t)out_size, "round trip %lld failed: rc %d", i, (int)rc);
      theater_log(THEATER_ERROR, out);
      return 0;  // pong's trouble, not ping's: report it, stay healthy
    }
    const int ok = reply.len == en && memcmp(reply.ptr, expect, (size_t)en) == 0;
    if (n <= 10) {
      theater_log_fmt(THEATER_INFO, "%s -> %s (%lld ms)", ping, theater_buf_cstr(&reply),
                      (long long)(theater_now_ms() - t0));
    }
    theater_buf_free(&reply);
    if (!ok) {
      theater_fail_str("pong answered out of order");  // fails ping when the handler returns
      return 0;
    }
  }
  snprintf(out, (size_t)out_size, "%lld round trips in %lld ms", n, (long long)(theater_now_ms() - start));
  theater_log(THEATER_INFO, out);
  return 0;
}

THEATER_HANDLE_REQUEST(on_request) {
  if (!theater_msg_is(msg, len, "run")) return theater_reply_str("expected: run N") < 0;
  char summary[96];
  const int32_t status = run(theater_msg_int(msg, len, 1), summary, (int32_t)sizeof summary);
  return status ? status : theater_reply_str(summary) < 0;
}

THEATER_HANDLE_SEND(on_send) {
  if (!theater_msg_is(msg, len, "start")) {
    theater_log(THEATER_WARN, "expected: start N");
    return 0;
  }
  char summary[96];
  return run(theater_msg_int(msg, len, 1), summary, (int32_t)sizeof summary);
}
