// Compute kernels in C, compiled to wasm by clang as actor code is: what the fuel checks cost on
// code a compiler wrote (theater_engine_bench, BM_Kernel*), beside the hand-written WAT kernels.
// No libc: the module imports nothing, so the engine benchmark can load it with an empty linker.
//   sha256(kib)  hashes kib KiB: loops with a call per 64-byte block
//   sort(n)      quicksorts n integers through a comparison function pointer (call_indirect
//                per comparison) and recursion, as qsort does
//   eval(n)      parses and evaluates an expression of n terms by recursive descent (mutually
//                recursive functions, the shape of an interpreter or a JSON parser)
//   sieve(n)     counts the primes below n (at most 65536) by the sieve of Eratosthenes: short
//                loops of a few instructions, the hardest case for checks on back edges
//   fib(n)       recursive Fibonacci: a call per few instructions, the hardest case for checks
//                on recursion (clang turns one of its two calls into a loop)
// Each returns a checksum, so the compiler cannot drop the work.
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

// ---- sha256 ------------------------------------------------------------------------------------

static const uint32_t k256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

__attribute__((noinline)) static void sha256_block(uint32_t h[8], const uint8_t* p) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i) {
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  }
  for (int i = 16; i < 64; ++i) {
    const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; ++i) {
    const uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k256[i] + w[i];
    const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

static uint8_t buffer[1 << 20];

EXPORT("sha256") uint32_t sha256(uint32_t kib) {
  const uint32_t len = kib * 1024 > sizeof buffer ? sizeof buffer : kib * 1024;
  for (uint32_t i = 0; i < len; ++i) buffer[i] = (uint8_t)(i * 131 + 7);
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  for (uint32_t at = 0; at + 64 <= len; at += 64) sha256_block(h, buffer + at);
  return h[0] ^ h[7];
}

// ---- sort --------------------------------------------------------------------------------------

typedef int (*compare_fn)(const int32_t*, const int32_t*);

__attribute__((noinline)) static int ascending(const int32_t* a, const int32_t* b) { return (*a > *b) - (*a < *b); }

static void swap(int32_t* a, int32_t* b) {
  const int32_t t = *a;
  *a = *b;
  *b = t;
}

// compare_fn is read from a volatile, so the compiler keeps the indirect call, as in qsort.
static compare_fn volatile the_compare = ascending;

static void quicksort(int32_t* v, int32_t n, compare_fn cmp) {
  while (n > 16) {
    const int32_t mid = n / 2;
    if (cmp(&v[mid], &v[0]) < 0) swap(&v[mid], &v[0]);
    if (cmp(&v[n - 1], &v[0]) < 0) swap(&v[n - 1], &v[0]);
    if (cmp(&v[n - 1], &v[mid]) < 0) swap(&v[n - 1], &v[mid]);
    const int32_t pivot = v[mid];
    int32_t i = 0, j = n - 1;
    while (i <= j) {
      while (cmp(&v[i], &pivot) < 0) ++i;
      while (cmp(&pivot, &v[j]) < 0) --j;
      if (i <= j) swap(&v[i++], &v[j--]);
    }
    // Recurse into the smaller side, loop on the larger: depth stays logarithmic.
    if (j + 1 < n - i) {
      quicksort(v, j + 1, cmp);
      v += i;
      n -= i;
    } else {
      quicksort(v + i, n - i, cmp);
      n = j + 1;
    }
  }
  for (int32_t i = 1; i < n; ++i) {
    for (int32_t k = i; k > 0 && cmp(&v[k], &v[k - 1]) < 0; --k) swap(&v[k], &v[k - 1]);
  }
}

EXPORT("sort") uint32_t sort(uint32_t n) {
  int32_t* v = (int32_t*)buffer;
  if (n > sizeof buffer / sizeof *v) n = sizeof buffer / sizeof *v;
  uint32_t x = 12345;
  for (uint32_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    v[i] = (int32_t)(x >> 1);
  }
  quicksort(v, (int32_t)n, the_compare);
  uint32_t sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum = sum * 31 + (uint32_t)v[i];
  return sum;
}

// ---- eval --------------------------------------------------------------------------------------

static const char* cursor;

static int32_t parse_sum(void);

__attribute__((noinline)) static int32_t parse_factor(void) {
  if (*cursor == '(') {
    ++cursor;
    const int32_t v = parse_sum();
    ++cursor;  // ')'
    return v;
  }
  int32_t v = 0;
  while (*cursor >= '0' && *cursor <= '9') v = v * 10 + (*cursor++ - '0');
  return v;
}

__attribute__((noinline)) static int32_t parse_product(void) {
  int32_t v = parse_factor();
  while (*cursor == '*') {
    ++cursor;
    v *= parse_factor();
  }
  return v;
}

__attribute__((noinline)) static int32_t parse_sum(void) {
  int32_t v = parse_product();
  while (*cursor == '+' || *cursor == '-') {
    const char op = *cursor++;
    const int32_t r = parse_product();
    v = op == '+' ? v + r : v - r;
  }
  return v;
}

// "(1*2+3)-(4*5+6)+..." : n terms, nested one level, about 8 bytes a term.
static uint32_t write_expression(char* out, uint32_t n, uint32_t room) {
  uint32_t at = 0;
  for (uint32_t i = 0; i < n && at + 16 < room; ++i) {
    if (i) out[at++] = (i % 3) ? '+' : '-';
    out[at++] = '(';
    out[at++] = (char)('1' + i % 9);
    out[at++] = '*';
    out[at++] = (char)('1' + (i / 9) % 9);
    out[at++] = '+';
    out[at++] = (char)('0' + i % 10);
    out[at++] = ')';
  }
  out[at] = 0;
  return at;
}

EXPORT("eval") uint32_t eval(uint32_t n) {
  char* text = (char*)buffer;
  write_expression(text, n, sizeof buffer);
  uint32_t sum = 0;
  for (int round = 0; round < 10; ++round) {
    cursor = text;
    sum = sum * 31 + (uint32_t)parse_sum();
  }
  return sum;
}

// ---- sieve -------------------------------------------------------------------------------------

EXPORT("sieve") uint32_t sieve(uint32_t n) {
  uint8_t* prime = buffer;
  if (n > 65536) n = 65536;
  for (uint32_t i = 0; i < n; ++i) prime[i] = i >= 2;  // (not a zeroing loop: clang would call memset)
  for (uint32_t i = 2; i * i < n; ++i) {
    if (!prime[i]) continue;
    for (uint32_t j = i * i; j < n; j += i) prime[j] = 0;
  }
  uint32_t count = 0;
  for (uint32_t i = 2; i < n; ++i) count += prime[i];
  return count;
}

// ---- fib ---------------------------------------------------------------------------------------

static uint32_t fib_of(uint32_t n) { return n < 2 ? n : fib_of(n - 1) + fib_of(n - 2); }

EXPORT("fib") uint32_t fib(uint32_t n) { return fib_of(n); }
