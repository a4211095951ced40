// sequencer: checks per-sender ordering, and plays the busy or deadlocking peer in scheduler tests.
//   send    "seq <sender> <n>"            expects n to be the sender's previous n + 1 (from 1)
//   send    "burst <target> <tag> <count>" sends "seq <tag> 1" .. "seq <tag> count" to target
//   send    "spin <ms>"                    computes for ms milliseconds (a busy actor)
//   request "report"                       replies "received=R violations=V"
//   request "ask <target> <timeout_ms>"    requests "call <self> <timeout_ms>" from target (waiting up
//                                          to 10 s), replies its reply (or the error code as text)
//   request "call <caller> <timeout_ms>"   requests "report" from caller and replies the rc: when
//                                          the caller is the one asking, the two wait on each other
//   request "rtt <target> <n>"             n requests "x" to target, one after the other; replies
//                                          "<n> <ms>" (round trips, for bench/cluster_bench)
#include <stdio.h>
#include <string.h>

#include "theater.h"

#define MAX_SENDERS 64

static struct {
  char tag[32];
  long long last;
} senders[MAX_SENDERS];
static int nsenders;
static long long received, violations;

static long long* last_of(const uint8_t* tag, int32_t len) {
  if (len >= (int32_t)sizeof senders[0].tag) len = sizeof senders[0].tag - 1;
  for (int i = 0; i < nsenders; ++i) {
    if ((int32_t)strlen(senders[i].tag) == len && memcmp(senders[i].tag, tag, (size_t)len) == 0) {
      return &senders[i].last;
    }
  }
  if (nsenders == MAX_SENDERS) return NULL;
  memcpy(senders[nsenders].tag, tag, (size_t)len);
  senders[nsenders].tag[len] = 0;
  senders[nsenders].last = 0;
  return &senders[nsenders++].last;
}

// The i-th space-separated word of msg (0-based) as a pointer and length.
static const uint8_t* word(const uint8_t* msg, int32_t len, int index, int32_t* out_len) {
  int32_t i = 0;
  for (int w = 0;; ++w) {
    while (i < len && msg[i] == ' ') ++i;
    int32_t start = i;
    while (i < len && msg[i] != ' ') ++i;
    if (start == i) return NULL;
    if (w == index) {
      *out_len = i - start;
      return msg + start;
    }
  }
}

static long long word_int(const uint8_t* msg, int32_t len, int index) {
  int32_t n = 0;
  const uint8_t* p = word(msg, len, index, &n);
  long long v = 0;
  for (int32_t i = 0; p && i < n && p[i] >= '0' && p[i] <= '9'; ++i) v = v * 10 + (p[i] - '0');
  return v;
}

THEATER_HANDLE_SEND(on_send) {
  int32_t n = 0;
  if (theater_msg_is(msg, len, "seq")) {
    const uint8_t* tag = word(msg, len, 1, &n);
    long long* last = tag ? last_of(tag, n) : NULL;
    long long seq = word_int(msg, len, 2);
    ++received;
    if (!last || seq != *last + 1) ++violations;
    if (last) *last = seq;
    return 0;
  }
  if (theater_msg_is(msg, len, "burst")) {
    int32_t tn = 0, gn = 0;
    const uint8_t* target = word(msg, len, 1, &tn);
    const uint8_t* tag = word(msg, len, 2, &gn);
    long long count = word_int(msg, len, 3);
    char text[96];
    for (long long i = 1; i <= count; ++i) {
      int tl = snprintf(text, sizeof text, "seq %.*s %lld", (int)gn, (const char*)tag, i);
      if (theater_send(target, tn, text, tl) < 0) return 1;
    }
    return 0;
  }
  if (theater_msg_is(msg, len, "spin")) {
    long long until = theater_now_ms() + word_int(msg, len, 1);
    volatile unsigned x = 1;
    while (theater_now_ms() < until) {
      for (int i = 0; i < 10000; ++i) x = x * 1103515245u + 12345u;
    }
    return 0;
  }
  return 0;
}

THEATER_HANDLE_REQUEST(on_request) {
  char text[96];
  if (theater_msg_is(msg, len, "report")) {
    snprintf(text, sizeof text, "received=%lld violations=%lld", received, violations);
    return theater_reply_str(text) < 0;
  }
  int32_t tn = 0;
  const uint8_t* target = word(msg, len, 1, &tn);
  long long timeout = word_int(msg, len, 2);
  theater_buf reply = {0};
  if (theater_msg_is(msg, len, "rtt")) {
    long long n = word_int(msg, len, 2), start = theater_now_ms();
    for (long long i = 0; i < n; ++i) {
      int32_t rc = theater_request(target, tn, "x", 1, 10000, &reply);
      theater_buf_free(&reply);
      if (rc < 0) return theater_reply_int(rc) < 0;
    }
    snprintf(text, sizeof text, "%lld %lld", n, theater_now_ms() - start);
    return theater_reply_str(text) < 0;
  }
  if (theater_msg_is(msg, len, "ask")) {
    theater_buf self = {0};
    theater_self_id(&self);
    int tl = snprintf(text, sizeof text, "call %.*s %lld", (int)self.len, theater_buf_cstr(&self), timeout);
    int32_t rc = theater_request(target, tn, text, tl, 10000, &reply);
    theater_buf_free(&self);
    int32_t out = rc < 0 ? theater_reply_int(rc) : theater_reply(reply.ptr, reply.len);
    theater_buf_free(&reply);
    return out < 0;
  }
  if (theater_msg_is(msg, len, "call")) {
    int32_t rc = theater_request(target, tn, "report", 6, (int32_t)timeout, &reply);
    theater_buf_free(&reply);
    return theater_reply_int(rc) < 0;
  }
  return theater_reply_str("unknown") < 0;
}
