/* Shared by the benchmark actors (the .c files beside it): what every one of them does.
 * The workloads and their parameters are described in bench/README.md; the driver is
 * src/cli/bench.cpp (`theater bench`). */
#ifndef THEATER_BENCH_H_
#define THEATER_BENCH_H_

#include "theater.h"

/* An actor id (runtime ids are "<name>-<12 hex digits>"; room to spare). */
#define BENCH_ID_MAX 96
typedef struct bench_id {
  char text[BENCH_ID_MAX];
  int32_t len;
} bench_id;

/* Copies p[0..len) into id; 0 on success, 1 if it does not fit. */
static inline int bench_id_set(bench_id* id, const void* p, int32_t len) {
  if (len < 0 || len >= BENCH_ID_MAX) return 1;
  memcpy(id->text, p, (size_t)len);
  id->text[len] = '\0';
  id->len = len;
  return 0;
}

static inline int bench_id_eq(const bench_id* id, const void* p, int32_t len) {
  return id->len == len && memcmp(id->text, p, (size_t)len) == 0;
}

/* This actor's own id; 0 on success. */
static inline int bench_self_id(bench_id* id) {
  theater_buf b = {0, 0};
  if (theater_self_id(&b) < 0) return 1;
  int rc = bench_id_set(id, b.ptr, b.len);
  theater_buf_free(&b);
  return rc;
}

static inline int32_t bench_send(const bench_id* to, const void* msg, int32_t len) {
  return theater_send(to->text, to->len, msg, len);
}

/* Sends "<word> <n>" (e.g. "done 100000"). */
static inline int32_t bench_send_word_int(const bench_id* to, const char* word, long long n) {
  char buf[64];
  int32_t w = theater_slen(word);
  if (w > 40) return THEATER_EINVAL;
  memcpy(buf, word, (size_t)w);
  buf[w] = ' ';
  int32_t k = theater_int_to_str(n, buf + w + 1, (int32_t)sizeof buf - w - 1);
  return theater_send(to->text, to->len, buf, w + 1 + k);
}

/* The i-th (from 0) space-separated word of p, or NULL. */
static inline const uint8_t* bench_word(const uint8_t* p, int32_t len, int32_t index, int32_t* word_len) {
  int32_t i = 0;
  for (;;) {
    while (i < len && p[i] == ' ') ++i;
    if (i >= len) return NULL;
    int32_t e = i;
    while (e < len && p[e] != ' ') ++e;
    if (index-- == 0) {
      *word_len = e - i;
      return p + i;
    }
    i = e;
  }
}

/* The i-th word as an integer, or fallback. */
static inline long long bench_word_int(const uint8_t* p, int32_t len, int32_t index, long long fallback) {
  int32_t n;
  const uint8_t* w = bench_word(p, len, index, &n);
  return w ? theater_parse_int(w, n, fallback) : fallback;
}

/* True if the message's first word is `word`. */
static inline int bench_is(const uint8_t* p, int32_t len, const char* word) {
  int32_t n = theater_word_len(p, len), w = theater_slen(word);
  return n == w && memcmp(p, word, (size_t)n) == 0;
}

/* If the message is "<word> <id>" (the setup messages "peer <id>", "next <id>"), stores the id
 * in *id, sets *status to the handler's status (0 = stored) and returns 1; else returns 0. */
static inline int bench_setup_id(const uint8_t* msg, int32_t len, const char* word, bench_id* id, int32_t* status) {
  if (!bench_is(msg, len, word)) return 0;
  int32_t n;
  const uint8_t* p = bench_word(msg, len, 1, &n);
  *status = !p || bench_id_set(id, p, n);
  return 1;
}

/* Fails the handler with a message (the bench driver sees the failure event). */
static inline int32_t bench_fail(const char* why) {
  theater_fail_str(why);
  return 1;
}

#endif
