// crasher: fails on command, in every way an untrusted actor can. Its state counts the messages
// it handled successfully, so a restart visibly keeps what was committed.
// Commands, as a send or a request:
//   "trap"    executes unreachable (__builtin_trap)        -> failure kind "trap"
//   "loop"    never returns                                 -> "timeout" at the handler deadline
//   "oom"     mallocs and touches 1 MiB blocks forever      -> "memory" at the memory limit
//   "stack"   recurses without end                          -> "trap" (call stack exhausted)
//   "fail"    theater_fail("asked to fail")                 -> "error"
//   "status"  returns status 1                              -> "error"
//   "exit"    theater_exit("bye"): a normal stop (the parent's theater_handle_child_exit)
//   "count"   replies (or logs) the count, not counting itself
//   anything else: counted, then replies (or logs) "ok, handled N"
#include "theater.h"

static long long handled;

// Where the "oom" blocks go, so that the compiler must assume they are used.
static volatile uintptr_t oom_sink;

THEATER_INIT(on_init) {
  handled = theater_parse_int(state, len, 0);
  if (reason == THEATER_RESTART) theater_log_fmt(THEATER_INFO, "restarted; handled %lld so far", handled);
  return 0;
}

static void grow_forever(void) {
  for (;;) {
    volatile uint8_t* block = (volatile uint8_t*)malloc(1 << 20);
    if (!block) {
      // The runtime normally fails the actor at memory.grow; if it only refused the growth,
      // keep asking the engine directly, then give up with an explicit failure.
      if (__builtin_wasm_memory_grow(0, 16) == (size_t)-1) {
        theater_fail_str("out of memory: malloc returned NULL");
        return;
      }
      continue;
    }
    for (int i = 0; i < (1 << 20); i += 4096) block[i] = (uint8_t)i;  // touch every page
    oom_sink = (uintptr_t)block;
  }
}

// Two calls per level, so that the compiler cannot turn the recursion into a loop.
static volatile int depth_sink;
__attribute__((noinline)) static int recurse(int n) {
  depth_sink = n;
  return recurse(n + 1) + recurse(n + 2);
}

// Returns the handler status; replies to requests.
static int32_t handle(const uint8_t* msg, int32_t len, int is_request) {
  if (theater_msg_is(msg, len, "trap")) __builtin_trap();
  if (theater_msg_is(msg, len, "loop")) {
    for (volatile unsigned long i = 0;; ++i) {
    }
  }
  if (theater_msg_is(msg, len, "stack")) return recurse(0);
  if (theater_msg_is(msg, len, "oom")) {
    grow_forever();
    return 0;
  }
  if (theater_msg_is(msg, len, "fail")) {
    theater_fail_str("asked to fail");  // fails once this handler returns
    return 0;
  }
  if (theater_msg_is(msg, len, "status")) return 1;
  if (theater_msg_is(msg, len, "exit")) {
    theater_exit_str("bye");
    return is_request ? theater_reply_str("bye") < 0 : 0;
  }
  char buf[48];
  if (theater_msg_is(msg, len, "count")) {
    snprintf(buf, sizeof buf, "%lld", handled);
  } else {
    ++handled;
    if (theater_state_set_int(handled) < 0) return 1;
    snprintf(buf, sizeof buf, "ok, handled %lld", handled);
  }
  if (is_request) return theater_reply_str(buf) < 0;
  theater_log(THEATER_INFO, buf);
  return 0;
}

THEATER_HANDLE_REQUEST(on_request) { return handle(msg, len, 1); }

THEATER_HANDLE_SEND(on_send) { return handle(msg, len, 0); }
