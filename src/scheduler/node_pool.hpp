#pragma once
// Memory for mailbox nodes. A message is usually made on one thread (the sender's worker) and
// freed on another (the receiver's), which glibc's malloc serves on its slow, locked path at
// both ends (the sender's thread-cache never gets anything back). Here a thread keeps the nodes
// it frees in a cache of its own and passes surplus batches to a shared stack; a thread that
// needs a node takes one from its cache, else every batch on the shared stack at once, else
// from operator new. Both hold a bounded number of nodes; the rest go back to the allocator.
#include <atomic>
#include <cstddef>
#include <new>

namespace theater {

inline constexpr size_t kNodeAlign = 64;  // a node spans as few cache lines as it can
inline constexpr int kForRead = 0, kForWrite = 1;

// Asks for every cache line of a node of `bytes`, for reading or for writing (Rw: kForRead or
// kForWrite, as __builtin_prefetch wants it, a constant).
template <int Rw>
inline void prefetch_node(const void* node, size_t bytes) {
  for (size_t off = 0; off < bytes; off += kNodeAlign) __builtin_prefetch(static_cast<const char*>(node) + off, Rw);
}

template <size_t Size>
class NodePool {
 public:
  static void* take() {
    Cache& c = cache();
    if (!c.head) c.adopt(shared_.head.exchange(nullptr, std::memory_order_acquire));
    if (Free* f = c.head) {
      c.head = f->next;
      --c.count;
      prefetch_for_write(c.head);
      return f;
    }
    return ::operator new(kBytes, std::align_val_t{kNodeAlign});
  }

  // Asks for the lines of the node that the next take() returns, to be written: it was most
  // likely last written by another core (the receiver that freed it), and fetching it now
  // overlaps that transfer with the work until the next message instead of stalling it.
  static void prefetch_for_write(const void* node) {
    if (node) prefetch_node<kForWrite>(node, kBytes);
  }

  static void give(void* p) {
    Cache& c = cache();
    Free* f = static_cast<Free*>(p);
    f->next = c.head;
    c.head = f;
    if (++c.count > kCacheMax) c.spill();
  }

 private:
  // A free node; the first node of a batch on the shared stack also links the next batch.
  struct Free {
    Free* next;
    Free* next_batch;
    size_t batch_size;
  };
  static constexpr size_t kBytes = Size > sizeof(Free) ? Size : sizeof(Free);
  static constexpr size_t kCacheMax = 256;   // nodes a thread keeps
  static constexpr size_t kBatch = 128;      // nodes it passes on at a time
  // Nodes on the shared stack. A sender faster than its receiver is held near Actor::kSendBacklog
  // messages in flight, so more would only be memory that a quiet runtime keeps.
  static constexpr size_t kSharedMax = 1024;

  struct Shared {
    std::atomic<Free*> head{nullptr};
    std::atomic<size_t> count{0};
  };

  struct Cache {
    Free* head = nullptr;
    size_t count = 0;

    // Takes the batches of the shared stack (a chain of batches) into this cache.
    void adopt(Free* batches) {
      while (batches) {
        Free* batch = batches;
        batches = batch->next_batch;
        shared_.count.fetch_sub(batch->batch_size, std::memory_order_relaxed);
        Free* last = batch;
        while (last->next) last = last->next;
        last->next = head;
        head = batch;
        count += batch->batch_size;
      }
    }

    // Passes kBatch nodes on to the shared stack, or frees them when it is full.
    void spill() {
      Free* batch = head;
      Free* last = head;
      for (size_t i = 1; i < kBatch; ++i) last = last->next;
      head = last->next;
      count -= kBatch;
      last->next = nullptr;
      if (shared_.count.fetch_add(kBatch, std::memory_order_relaxed) + kBatch > kSharedMax) {
        shared_.count.fetch_sub(kBatch, std::memory_order_relaxed);
        free_list(batch);
        return;
      }
      batch->batch_size = kBatch;
      batch->next_batch = shared_.head.load(std::memory_order_relaxed);
      // Pushers only link whole batches and the taker takes them all: no ABA.
      while (!shared_.head.compare_exchange_weak(batch->next_batch, batch, std::memory_order_release,
                                                 std::memory_order_relaxed)) {
      }
    }

    static void free_list(Free* f) {
      while (f) {
        Free* next = f->next;
        ::operator delete(f, std::align_val_t{kNodeAlign});
        f = next;
      }
    }

    ~Cache() { free_list(head); }
  };

  // Not inlined: a fiber may move to another thread between two calls in one function, and
  // the thread-local address must be looked up again each time.
  [[gnu::noinline]] static Cache& cache() {
    thread_local Cache c;
    return c;
  }

  static inline Shared shared_;
};

}  // namespace theater
