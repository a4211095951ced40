// abi_probe: a test actor that exercises one import per request, so tests can check each one.
// Request commands (reply in brackets):
//   "self_id" [own id]              "state" [committed or staged state]
//   "stage X" [ok] stages X         "stage_fail X" stages X then returns status 1
//   "fail_status X" calls theater_fail(X) then returns status 2
//   "log" [ok] logs at each level   "now" [ms since epoch]     "random N" [N random bytes, hex]
//   "badptr <import>" [rc]: calls the import with a pointer far outside memory
//   "printf X" [ok] prints X to stdout (WASI fd_write)   "env NAME" [value or "(unset)"]
//   "reply_twice" [first; rc of the second reply]   "noreply" returns 0 without replying
//   "send ID MSG" [rc]   "request ID MSG" [reply or "rc=N"]   "put X" [ref]   "get REF" [bytes]
//   "spawn_echo" [child id]   "children" [json]   "stop ID" [rc]   "exit X" exits with X
//   "spawn_on WHERE" [child id or rc=N]: spawn_echo on the node that WHERE picks (spawn_on)
//   "timer MS" [ok]; the timer's tag is stored as state "timer=TAG"
//   "alloc0"  makes the next theater_alloc return 0, then asks for state_get
//   "open ID MSG" [channel id or rc]   "chsend CH MSG" [rc]   "chclose CH" [rc]
//   "child_state ID" [state]  "child_events ID" [json]  "restart ID" [rc]  "monitor ID" [rc]
// theater_handle_down stores "down=<id> <reason>"; theater_handle_child_exit "child_exit=<result>";
// theater_handle_child_error (strategy custom) stores "child_error=<json>" and answers the
// decision named by the child's failure message ("restart", "stop" or "escalate").
// As a channel target: accepts unless the opening message is "refuse"; a channel message is
// stored as state "ch=<msg>", a close as "closed=<channel>". theater_shutdown stages "shutdown".
// theater_init stores "init reason=R state=S" in the state when S does not start with "keep".
#define THEATER_CUSTOM_ALLOC
#include "theater.h"

static int alloc_zero;

THEATER_EXPORT("theater_alloc") void* theater_alloc(int32_t size) {
  if (alloc_zero) return 0;
  return theater_default_alloc(size);
}

THEATER_EXPORT("theater_init")
int32_t on_init(const uint8_t* state, int32_t len, int32_t reason) {
  if (len >= 4 && memcmp(state, "keep", 4) == 0) return 0;
  char buf[256];
  int n = snprintf(buf, sizeof buf, "init reason=%d state=%.*s", (int)reason, (int)len, (const char*)state);
  return theater_state_set(buf, n) < 0;
}

static int32_t reply_rc(int32_t rc) {
  char buf[16];
  int n = snprintf(buf, sizeof buf, "%d", (int)rc);
  return theater_reply(buf, n) < 0;
}

static int32_t reply_buf(theater_buf* b, int32_t rc) {
  if (rc < 0) return reply_rc(rc);
  int32_t r = theater_reply(b->ptr, b->len);
  theater_buf_free(b);
  return r < 0;
}

// The argument as a NUL-terminated string in a static buffer.
static const char* arg_str(const uint8_t* msg, int32_t len) {
  static char buf[512];
  int32_t n;
  const uint8_t* a = theater_msg_arg(msg, len, &n);
  if (n >= (int32_t)sizeof buf) n = sizeof buf - 1;
  memcpy(buf, a, (size_t)n);
  buf[n] = '\0';
  return buf;
}

#define BAD ((void*)0xFFFFFFF0u)

static int32_t badptr(const char* name) {
  uint8_t* p;
  int32_t l;
  if (!strcmp(name, "state_set")) return theater_raw_state_set(BAD, 100);
  if (!strcmp(name, "state_get")) return theater_raw_state_get((uint8_t**)BAD, &l);
  if (!strcmp(name, "log")) return theater_raw_log(2, BAD, 100);
  if (!strcmp(name, "send")) return theater_raw_send(BAD, 10, "x", 1);
  if (!strcmp(name, "request")) return theater_raw_request("x", 1, BAD, 10, 100, &p, &l);
  if (!strcmp(name, "reply")) return theater_raw_reply(BAD, 10);
  if (!strcmp(name, "random_fill")) return theater_random_fill(BAD, 64);
  if (!strcmp(name, "store_put")) return theater_raw_store_put(BAD, 64, &p, &l);
  if (!strcmp(name, "spawn")) return theater_raw_spawn(BAD, 64, "", 0, &p, &l);
  if (!strcmp(name, "self_id")) return theater_raw_self_id(&p, (int32_t*)BAD);
  return -100;
}

THEATER_EXPORT("theater_handle_request")
int32_t on_request(const uint8_t* msg, int32_t len) {
  theater_buf b = {0, 0};
  if (theater_msg_is(msg, len, "self_id")) return reply_buf(&b, theater_self_id(&b));
  if (theater_msg_is(msg, len, "state")) return reply_buf(&b, theater_state_get(&b));
  if (theater_msg_is(msg, len, "stage")) {
    theater_state_set_str(arg_str(msg, len));
    return theater_reply_str("ok") < 0;
  }
  if (theater_msg_is(msg, len, "stage_fail")) {
    theater_state_set_str(arg_str(msg, len));
    theater_reply_str("ok");
    return 1;
  }
  if (theater_msg_is(msg, len, "fail_status")) {
    theater_fail_str(arg_str(msg, len));
    return 2;
  }
  if (theater_msg_is(msg, len, "log")) {
    for (int level = 0; level <= 4; ++level) theater_log_fmt(level, "level %d", level);
    return theater_reply_str("ok") < 0;
  }
  if (theater_msg_is(msg, len, "now")) return theater_reply_int(theater_now_ms()) < 0;
  if (theater_msg_is(msg, len, "random")) {
    int n = (int)theater_msg_int(msg, len, 8);
    uint8_t bytes[64];
    char hex[129];
    if (n > 64) n = 64;
    if (theater_random_fill(bytes, n) < 0) return reply_rc(-1);
    for (int i = 0; i < n; ++i) snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    return theater_reply(hex, 2 * n) < 0;
  }
  if (theater_msg_is(msg, len, "badptr")) return reply_rc(badptr(arg_str(msg, len)));
  if (theater_msg_is(msg, len, "printf")) {
    printf("%s\n", arg_str(msg, len));
    fflush(stdout);
    return theater_reply_str("ok") < 0;
  }
  if (theater_msg_is(msg, len, "env")) {
    const char* v = getenv(arg_str(msg, len));
    return theater_reply_str(v ? v : "(unset)") < 0;
  }
  if (theater_msg_is(msg, len, "reply_twice")) {
    theater_reply_str("first");
    int32_t rc = theater_reply_str("second");
    theater_log_fmt(THEATER_INFO, "second reply rc=%d", (int)rc);
    return 0;
  }
  if (theater_msg_is(msg, len, "noreply")) return 0;
  if (theater_msg_is(msg, len, "send") || theater_msg_is(msg, len, "request")) {
    int is_request = theater_msg_is(msg, len, "request");
    char args[512];
    strcpy(args, arg_str(msg, len));
    char* space = strchr(args, ' ');
    const char* body = space ? space + 1 : "";
    if (space) *space = '\0';
    if (!is_request) return reply_rc(theater_send_str(args, body));
    int32_t rc = theater_request_str(args, body, 2000, &b);
    if (rc < 0) return reply_rc(rc);
    return reply_buf(&b, rc);
  }
  if (theater_msg_is(msg, len, "put")) {
    const char* x = arg_str(msg, len);
    return reply_buf(&b, theater_store_put_str(x, &b));
  }
  if (theater_msg_is(msg, len, "get")) return reply_buf(&b, theater_store_get_str(arg_str(msg, len), &b));
  if (theater_msg_is(msg, len, "spawn_echo")) {
    return reply_buf(&b, theater_spawn_str("name = \"echo\"\ncomponent = \"echo.wasm\"\nhandlers = [\"message-server\"]\n",
                                           "", &b));
  }
  if (theater_msg_is(msg, len, "spawn_on")) {
    return reply_buf(&b, theater_spawn_on_str("name = \"echo\"\ncomponent = \"echo.wasm\"\nhandlers = [\"message-server\"]\n",
                                              "", arg_str(msg, len), &b));
  }
  if (theater_msg_is(msg, len, "children")) return reply_buf(&b, theater_list_children(&b));
  if (theater_msg_is(msg, len, "stop")) return reply_rc(theater_stop_child_str(arg_str(msg, len)));
  if (theater_msg_is(msg, len, "exit")) {
    theater_exit_str(arg_str(msg, len));
    return theater_reply_str("exiting") < 0;
  }
  if (theater_msg_is(msg, len, "timer")) {
    return reply_rc(theater_timer_set((int32_t)theater_msg_int(msg, len, 10), 4242));
  }
  if (theater_msg_is(msg, len, "open") || theater_msg_is(msg, len, "chsend")) {
    int is_open = theater_msg_is(msg, len, "open");
    char args[512];
    strcpy(args, arg_str(msg, len));
    char* space = strchr(args, ' ');
    const char* body = space ? space + 1 : "";
    if (space) *space = '\0';
    if (is_open) return reply_buf(&b, theater_channel_open_str(args, body, &b));
    return reply_rc(theater_channel_send_str(args, body));
  }
  if (theater_msg_is(msg, len, "chclose")) {
    const char* c = arg_str(msg, len);
    return reply_rc(theater_channel_close_str(c));
  }
  if (theater_msg_is(msg, len, "child_state")) return reply_buf(&b, theater_child_state_str(arg_str(msg, len), &b));
  if (theater_msg_is(msg, len, "child_events")) return reply_buf(&b, theater_child_events_str(arg_str(msg, len), &b));
  if (theater_msg_is(msg, len, "restart")) return reply_rc(theater_restart_child_str(arg_str(msg, len)));
  if (theater_msg_is(msg, len, "monitor")) return reply_rc(theater_monitor_str(arg_str(msg, len)));
  if (theater_msg_is(msg, len, "alloc0")) {
    alloc_zero = 1;
    theater_state_get(&b);  // the runtime must fail this handler: theater_alloc returned 0
    return 0;
  }
  return theater_reply_str("unknown") < 0;
}

THEATER_EXPORT("theater_handle_timer")
int32_t on_timer(int64_t tag) {
  char buf[32];
  int n = snprintf(buf, sizeof buf, "timer=%lld", (long long)tag);
  return theater_state_set(buf, n) < 0;
}

THEATER_EXPORT("theater_handle_channel_open")
int32_t on_channel_open(const uint8_t* ch, int32_t ch_len, const uint8_t* msg, int32_t len) {
  (void)ch;
  (void)ch_len;
  return theater_msg_is(msg, len, "refuse") ? 0 : 1;
}

THEATER_EXPORT("theater_handle_channel_message")
int32_t on_channel_message(const uint8_t* ch, int32_t ch_len, const uint8_t* msg, int32_t len) {
  (void)ch;
  (void)ch_len;
  char buf[256];
  int n = snprintf(buf, sizeof buf, "ch=%.*s", (int)len, (const char*)msg);
  return theater_state_set(buf, n) < 0;
}

THEATER_EXPORT("theater_handle_channel_close")
int32_t on_channel_close(const uint8_t* ch, int32_t ch_len) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, "closed=%.*s", (int)ch_len, (const char*)ch);
  return theater_state_set(buf, n) < 0;
}

THEATER_EXPORT("theater_shutdown")
int32_t on_shutdown(void) { return theater_state_set_str("shutdown") < 0; }

THEATER_EXPORT("theater_handle_down")
int32_t on_down(const uint8_t* id, int32_t id_len, const uint8_t* reason, int32_t reason_len) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "down=%.*s %.*s", (int)id_len, (const char*)id, (int)reason_len,
                   (const char*)reason);
  return theater_state_set(buf, n) < 0;
}

THEATER_EXPORT("theater_handle_child_exit")
int32_t on_child_exit(const uint8_t* id, int32_t id_len, const uint8_t* result, int32_t len) {
  (void)id;
  (void)id_len;
  char buf[256];
  int n = snprintf(buf, sizeof buf, "child_exit=%.*s", (int)len, (const char*)result);
  return theater_state_set(buf, n) < 0;
}

THEATER_EXPORT("theater_handle_child_error")
int32_t on_child_error(const uint8_t* id, int32_t id_len, const uint8_t* err, int32_t len) {
  (void)id;
  (void)id_len;
  char buf[512];
  int n = snprintf(buf, sizeof buf, "child_error=%.*s", (int)len, (const char*)err);
  theater_state_set(buf, n);
  if (strstr(buf, "\"message\":\"stop")) return THEATER_CHILD_STOP;
  if (strstr(buf, "\"message\":\"escalate")) return THEATER_CHILD_ESCALATE;
  return THEATER_CHILD_RESTART;
}
