// Bounds socket waits without a timer per wait. Every wait of one kind has the same timeout, so
// entries armed one after another expire in the order they were armed: a FIFO list is already
// sorted by deadline, and one timer per list, set for its oldest entry, is enough (arm_at places
// an entry with a deadline of its own in order). Arming and
// disarming an entry is a clock read and two pointer swaps; the timer is reset only when it
// fires (about once per timeout while the list is busy), not per wait, so a wait costs no
// system call. An expired entry cancels its socket's pending operations and is marked, so the
// waiter can tell a timeout from other failures; an entry with an expiry action of its own
// (`on_expiry`) calls that instead.
//
// For the data path's .cpp files only (it includes Asio). Thread-safety: one queue and its
// entries belong to one io_context thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace infergate::gateway {

class DeadlineQueue {
 public:
  struct Entry {
    Entry* prev = nullptr;
    Entry* next = nullptr;
    bool linked = false;
    bool expired = false;
    std::chrono::steady_clock::time_point deadline{};
    boost::asio::ip::tcp::socket* socket = nullptr;
    DeadlineQueue* queue = nullptr;
    // Set once by the entry's owner: what expiry does instead of cancelling the socket.
    void (*on_expiry)(Entry&) = nullptr;
  };

  DeadlineQueue(const boost::asio::any_io_executor& ex, std::chrono::milliseconds timeout)
      : timer_(ex), timeout_(timeout) {}
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;
  ~DeadlineQueue() {
    while (head_) unlink(*head_);
  }

  // Starts bounding a wait on `socket`.
  void arm(Entry& e, boost::asio::ip::tcp::socket& socket) {
    remove(e);
    e.expired = false;
    e.socket = &socket;
    e.queue = this;
    e.deadline = std::chrono::steady_clock::now() + timeout_;
    e.prev = tail_;
    e.next = nullptr;
    (tail_ ? tail_->next : head_) = &e;
    tail_ = &e;
    e.linked = true;
    if (!timer_running_) start(e.deadline);
  }
  // Starts bounding a wait on `socket` by a deadline of the caller's (the end of a request
  // begun earlier): placed in deadline order, found from the back since most are recent.
  void arm_at(Entry& e, boost::asio::ip::tcp::socket& socket,
              std::chrono::steady_clock::time_point deadline) {
    remove(e);
    e.expired = false;
    e.socket = &socket;
    e.queue = this;
    e.deadline = deadline;
    Entry* after = tail_;
    while (after && after->deadline > deadline) after = after->prev;
    e.prev = after;
    e.next = after ? after->next : head_;
    (e.next ? e.next->prev : tail_) = &e;
    (after ? after->next : head_) = &e;
    e.linked = true;
    // The timer waits for the oldest entry: restart it when this one is now the first.
    if (!timer_running_ || head_ == &e) start(deadline);
  }
  // The wait ended; returns whether it ended because the deadline passed.
  bool disarm(Entry& e) {
    if (e.linked) unlink(e);
    return e.expired;
  }
  std::chrono::milliseconds timeout() const { return timeout_; }
  // Cancels the timer, for shutdown: then nothing of the queue waits in the io_context (a later
  // arm() starts it again).
  void stop() {
    timer_running_ = false;
    timer_.cancel();
  }
  // Takes `e` out of whichever queue holds it (for owners that end while waiting).
  static void remove(Entry& e) {
    if (e.linked) e.queue->unlink(e);
  }

 private:
  void unlink(Entry& e) {
    (e.prev ? e.prev->next : head_) = e.next;
    (e.next ? e.next->prev : tail_) = e.prev;
    e.prev = e.next = nullptr;
    e.linked = false;
  }
  void start(std::chrono::steady_clock::time_point at) {
    timer_running_ = true;
    timer_.expires_at(at);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      // Cancelled: by stop(), by a restart for an earlier entry, or because the queue is
      // destroyed (`this` may be gone).
      if (ec) return;
      on_timer();
    });
  }
  void on_timer() {
    timer_running_ = false;
    const auto now = std::chrono::steady_clock::now();
    while (head_ && head_->deadline <= now) {
      Entry& e = *head_;
      unlink(e);
      e.expired = true;
      if (e.on_expiry) {
        e.on_expiry(e);
        continue;
      }
      boost::system::error_code ignored;
      e.socket->cancel(ignored);
    }
    if (head_) start(head_->deadline);
  }

  boost::asio::steady_timer timer_;
  std::chrono::milliseconds timeout_;
  Entry* head_ = nullptr;
  Entry* tail_ = nullptr;
  bool timer_running_ = false;
};

}  // namespace infergate::gateway
