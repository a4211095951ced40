#pragma once
// A bounded multi-producer, single-consumer mailbox without locks.
//
// Producers (any thread) link a node with one atomic exchange (D. Vyukov's intrusive MPSC queue),
// so messages from one sender arrive in the order sent, even when the sender moves between
// threads: its pushes are ordered by that exchange. Only the owning actor, in its own turn, pops
// (one consumer at a time, which the scheduler guarantees). A full mailbox refuses instead of
// growing: the sender gets EFULL.
//
// The count is reserved before a node is linked, so for a moment size() may say 1 while pop()
// still finds nothing: the consumer then ends its turn, and the scheduler, seeing has_work(),
// runs it again. Nothing is lost; see Scheduler::run.
//
// The consumer takes what it popped off the count in one step, settle(n), not at every pop: the
// count shares a cache line with the producers' end, and a locked subtraction there per message
// cost the consumer that line once more per message. Until it settles, size() still counts what
// it popped. The consumer keeps that number itself (an actor in a spare word of its own, rather
// than a word more in each of its two mailboxes); it settles at the end of each turn and before
// its handler waits, so a mailbox looks fuller than it is by at most one turn's messages.
#include <atomic>
#include <cstddef>
#include <deque>
#include <utility>

#include "scheduler/node_pool.hpp"

namespace theater {

// `Align`: the cache-line size keeps producers and the consumer off each other's lines (below);
// a mailbox that sees little traffic can take alignof(void*) and stay small.
template <typename T, size_t Align = 64>
class Mailbox {
  struct Node;

 public:
  // An item taken off the queue, still in its node: it is read in place rather than moved out
  // (a message is moved once, into its node), and the node goes back to the pool when this is
  // destroyed, on whichever thread that is.
  class Taken {
   public:
    Taken() = default;
    explicit Taken(Node* node) : node_(node) {}
    Taken(Taken&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
    Taken& operator=(Taken&& other) noexcept {
      release();
      node_ = std::exchange(other.node_, nullptr);
      return *this;
    }
    ~Taken() { release(); }
    explicit operator bool() const { return node_ != nullptr; }
    T& operator*() const { return node_->value; }
    T* operator->() const { return &node_->value; }

   private:
    void release() {
      if (!node_) return;
      node_->~Node();
      Pool::give(node_);
      node_ = nullptr;
    }
    Node* node_ = nullptr;
  };

  explicit Mailbox(size_t capacity) : head_(&stub_), capacity_(capacity), tail_(&stub_) {}
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;
  ~Mailbox() {
    while (pop()) {  // (not settled: size() no longer matters)
    }
  }

  // The consumer only: takes `popped` messages that pop() returned off size().
  void settle(size_t popped) {
    if (popped != 0) size_.fetch_sub(popped);  // seq_cst, as size(): see Actor::wait_for_drain
  }

  // Any thread. False when full. `force` bypasses the bound (system use: restart keeps what is
  // queued, system messages are never refused).
  bool push(T&& item, bool force = false) { return emplace(force, std::move(item)); }

  // push() of a T made from `args` in its node (no T made before and moved in).
  template <typename... Args>
  bool emplace(bool force, Args&&... args) {
    // seq_cst (the same instruction as relaxed on x86): a sender then reads its receiver's
    // `queued` flag after this, and the receiver's worker clears the flag before it reads
    // size(); one of the two sees the other (Scheduler::schedule_self).
    const size_t before = size_.fetch_add(1);
    if (!force && before >= capacity_.load(std::memory_order_relaxed)) {
      size_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    Link* node = new (Pool::take()) Node(std::forward<Args>(args)...);
    Link* prev = head_.exchange(node, std::memory_order_acq_rel);
    prev->next.store(node, std::memory_order_release);
    return true;
  }

  // The consumer only. Nothing when empty, or when the newest push is still being linked.
  Taken pop() {
    Link* tail = tail_;
    Link* next = tail->next.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (!next) return {};
      tail_ = tail = next;  // skip the stub
      next = tail->next.load(std::memory_order_acquire);
    }
    if (next) {
      tail_ = next;
      prefetch_node<kForRead>(next, sizeof(Node));  // the one after: its lines come while this one is handled
      return take(tail);
    }
    // `tail` is the last linked node. It can only be taken with the stub behind it, so that a
    // producer always has a node to link after.
    if (tail != head_.load(std::memory_order_acquire)) return {};  // a push in flight
    stub_.next.store(nullptr, std::memory_order_relaxed);
    Link* prev = head_.exchange(&stub_, std::memory_order_acq_rel);
    prev->next.store(&stub_, std::memory_order_release);
    next = tail->next.load(std::memory_order_acquire);
    if (!next) return {};  // another push got in between; it links soon
    tail_ = next;
    return take(tail);
  }

  // Any thread; counts pushes that are being linked, and pops not settled yet.
  size_t size() const { return size_.load(); }  // seq_cst: see push
  bool empty() const { return size() == 0; }
  void set_capacity(size_t capacity) { capacity_.store(capacity, std::memory_order_relaxed); }

  // The consumer only: removes everything linked so far (for a stopped actor), settled (the
  // consumer's own unsettled pops are still its to settle).
  std::deque<T> drain() {
    std::deque<T> out;
    while (auto item = pop()) out.push_back(std::move(*item));
    settle(out.size());
    return out;
  }

 private:
  struct Link {
    std::atomic<Link*> next{nullptr};
  };
  struct Node : Link {
    template <typename... Args>
    explicit Node(Args&&... args) : value(std::forward<Args>(args)...) {}
    T value;
  };
  using Pool = NodePool<sizeof(Node)>;  // nodes are recycled (see node_pool.hpp)
  static Taken take(Link* link) {
    return Taken(static_cast<Node*>(link));  // never the stub: pop() steps over it
  }

  // The producers' line, the shared count's line and the consumer's line are apart: a producer
  // and the consumer on two cores then do not pull one cache line to and fro for every message.
  alignas(Align) std::atomic<Link*> head_;  // producers: the newest node
  std::atomic<size_t> capacity_;
  alignas(Align) std::atomic<size_t> size_{0};
  alignas(Align) Link* tail_;  // consumer: the oldest node not yet taken (or the stub)
  // A link without a message, so that the queue always has a node for producers to link after.
  Link stub_;
};

}  // namespace theater
