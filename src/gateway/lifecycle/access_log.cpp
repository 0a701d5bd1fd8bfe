#include "gateway/lifecycle/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "openai/error.hpp"

namespace infergate::gateway {
namespace {

// One line's fields in order, as JSON members or key=value pairs. An empty string and an absent
// number are null in JSON and `-` in text.
class LineWriter {
 public:
  LineWriter(std::string& out, AccessLogFormat format)
      : out_(out), json_(format == AccessLogFormat::kJson) {
    if (json_) out_ += '{';
  }

  void string(std::string_view key, std::string_view value) {
    name(key);
    if (value.empty())
      out_ += json_ ? "null" : "-";
    else if (json_ || !bare(value))
      openai::append_json_string(out_, value);
    else
      out_ += value;
  }
  template <typename Integer>
  void integer(std::string_view key, Integer value) {
    name(key);
    char buf[24];
    const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
    out_.append(buf, end);
  }
  // Milliseconds with three decimals (whole microseconds, written as integers: cheaper than
  // formatting a double).
  void millis(std::string_view key, Duration d) {
    name(key);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    if (us < 0) {
      out_ += '-';
      us = -us;
    }
    char buf[24];
    out_.append(buf, std::to_chars(buf, buf + sizeof buf, us / 1000).ptr);
    const auto frac = static_cast<int>(us % 1000);
    const char digits[4] = {'.', static_cast<char>('0' + frac / 100),
                            static_cast<char>('0' + frac / 10 % 10),
                            static_cast<char>('0' + frac % 10)};
    out_.append(digits, 4);
  }
  void boolean(std::string_view key, bool value) {
    name(key);
    out_ += value ? "true" : "false";
  }
  void null(std::string_view key) {
    name(key);
    out_ += json_ ? "null" : "-";
  }
  void end() { out_ += json_ ? "}\n" : "\n"; }

 private:
  void name(std::string_view key) {
    if (!first_) out_ += json_ ? ',' : ' ';
    first_ = false;
    if (json_) out_ += '"';
    out_ += key;
    out_ += json_ ? "\":" : "=";
  }
  // A text value written without quotes: printable ASCII that cannot be mistaken for a
  // separator, a quoted value or null.
  static bool bare(std::string_view v) {
    if (v == "-") return false;
    for (const char c : v)
      if (c <= ' ' || c > '~' || c == '"' || c == '=' || c == '\\') return false;
    return true;
  }

  std::string& out_;
  const bool json_;
  bool first_ = true;
};

// "2025-05-01T12:34:56.789Z"
void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day date(day);
  const hh_mm_ss time(ms - day);
  // Digit by digit: snprintf's format parsing was most of a line's cost.
  char buf[25] = "0000-00-00T00:00:00.000Z";
  const auto put = [&](int at, int width, long v) {
    for (int i = at + width - 1; i >= at; --i, v /= 10) buf[i] = static_cast<char>('0' + v % 10);
  };
  put(0, 4, static_cast<int>(date.year()));
  put(5, 2, static_cast<unsigned>(date.month()));
  put(8, 2, static_cast<unsigned>(date.day()));
  put(11, 2, time.hours().count());
  put(14, 2, time.minutes().count());
  put(17, 2, time.seconds().count());
  put(20, 3, time.subseconds().count());
  out.append(buf, 24);
}

// Writes to a file descriptor, all of it, through interruptions and short writes.
class FdSink final : public AccessLogSink {
 public:
  FdSink(int fd, bool owned) : fd_(fd), owned_(owned) {}
  ~FdSink() override {
    if (owned_) ::close(fd_);
  }
  bool write(std::string_view lines) override {
    while (!lines.empty()) {
      const ssize_t n = ::write(fd_, lines.data(), lines.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      lines.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

 private:
  const int fd_;
  const bool owned_;
};

}  // namespace

void append_access_log_line(std::string& out, const RequestRecord& r, AccessLogFormat format,
                            std::chrono::system_clock::time_point arrived) {
  LineWriter w(out, format);
  std::string time;
  append_time(time, arrived);
  w.string("time", time);
  w.string("request_id", r.request_id);
  w.string("trace_id", r.trace_id);
  w.string("method", r.method);
  w.string("path", r.path);
  w.string("model", r.model);
  w.string("target_model", r.target_model);
  w.string("pool", r.pool);
  w.string("endpoint", r.endpoint);
  w.integer("priority", r.priority);
  w.string("fairness_id", r.flow);
  w.integer("status", r.status);
  if (r.error) {
    w.string("error", r.error->message);
    w.string("error_type",
             r.error->type.empty() ? openai::error_type(r.error->status) : r.error->type);
  } else {
    w.null("error");
    w.null("error_type");
  }
  w.millis("queue_ms", r.queued);
  if (r.ttft.count() > 0)
    w.millis("ttft_ms", r.ttft);
  else
    w.null("ttft_ms");  // no first byte came
  w.millis("duration_ms", r.total);
  if (r.usage) {
    w.integer("prompt_tokens", r.usage->prompt_tokens);
    w.integer("cached_tokens", r.usage->cached_tokens);
    w.integer("output_tokens", r.usage->completion_tokens);
  } else {
    w.null("prompt_tokens");
    w.null("cached_tokens");
    w.integer("output_tokens", r.counted_output);  // pieces counted in the stream
  }
  w.integer("attempts", r.attempts);
  w.boolean("streamed", r.streamed);
  w.end();
}

std::unique_ptr<AccessLogSink> stdout_sink() {
  return std::make_unique<FdSink>(STDOUT_FILENO, /*owned=*/false);
}

std::unique_ptr<AccessLogSink> file_sink(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<FdSink>(fd, /*owned=*/true);
}

// The writer is woken rarely, so that a line costs a worker no system call: under traffic it
// writes every flush interval, or when a quarter of the buffer has filled; idle (an interval
// went by with nothing), it sleeps until a line comes.
struct AccessLog::Shared {
  Shared(std::unique_ptr<AccessLogSink> s, std::size_t bytes, std::chrono::milliseconds interval)
      : sink(std::move(s)), capacity(bytes), flush_bytes(bytes / 4), flush_interval(interval) {}
  const std::unique_ptr<AccessLogSink> sink;
  const std::size_t capacity;
  const std::size_t flush_bytes;
  const std::chrono::milliseconds flush_interval;
  std::mutex mu;
  std::condition_variable wake;   // the writer: lines came while it was idle, a full quarter, stop
  std::condition_variable ended;  // stop(): the writer is done
  std::string pending;            // whole lines, oldest first (guarded by mu)
  std::uint64_t pending_lines = 0;
  bool writer_idle = false;  // sleeping until a line comes (guarded by mu)
  bool stopping = false;
  bool writer_done = false;
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> dropped{0};
};

AccessLog::AccessLog(const AccessLogOptions& options, std::unique_ptr<AccessLogSink> sink)
    : options_(options),
      shared_(
          std::make_shared<Shared>(std::move(sink), options.buffer_bytes, options.flush_interval)) {
  writer_ = std::thread([shared = shared_] { write_loop(shared); });
}

AccessLog::~AccessLog() {
  if (writer_.joinable()) stop(options_.drain_timeout);
}

void AccessLog::write_loop(const std::shared_ptr<Shared>& shared) {
  Shared& s = *shared;
  std::string batch;
  for (;;) {
    std::uint64_t lines = 0;
    {
      std::unique_lock lock(s.mu);
      s.wake.wait_for(lock, s.flush_interval,
                      [&] { return s.pending.size() >= s.flush_bytes || s.stopping; });
      if (s.pending.empty() && !s.stopping) {  // an interval with nothing: idle until a line
        s.writer_idle = true;
        s.wake.wait(lock, [&] { return !s.pending.empty() || s.stopping; });
        s.writer_idle = false;
        continue;  // gather the interval's lines before writing
      }
      if (s.pending.empty()) break;  // stopping, and everything is written
      // The buffers trade places: both keep their capacity, so no line allocates once warm.
      batch.swap(s.pending);
      lines = std::exchange(s.pending_lines, 0);
    }
    (s.sink->write(batch) ? s.written : s.dropped).fetch_add(lines, std::memory_order_relaxed);
    batch.clear();
  }
  {
    std::lock_guard lock(s.mu);
    s.writer_done = true;
  }
  s.ended.notify_all();
}

void AccessLog::record(const RequestRecord& record) {
  // Formatted on the worker, outside the lock, into a buffer the thread keeps.
  thread_local std::string line;
  line.clear();
  const auto arrived =
      options_.wall_clock() -
      std::chrono::duration_cast<std::chrono::system_clock::duration>(record.total);
  append_access_log_line(line, record, options_.format, arrived);
  submit(line);
}

bool AccessLog::submit(std::string_view lines, std::uint64_t line_count) {
  Shared& s = *shared_;
  bool accepted = false, wake = false;
  {
    std::lock_guard lock(s.mu);
    if (!s.stopping && s.pending.size() + lines.size() <= s.capacity) {
      const std::size_t before = s.pending.size();
      wake = (before == 0 && s.writer_idle) ||
             (before < s.flush_bytes && before + lines.size() >= s.flush_bytes);
      s.pending += lines;
      s.pending_lines += line_count;
      accepted = true;
    }
  }
  if (!accepted) {
    s.dropped.fetch_add(line_count, std::memory_order_relaxed);
    return false;
  }
  // Only an idle writer, or one with a quarter of the buffer to write, is woken.
  if (wake) s.wake.notify_one();
  return true;
}

AccessLog::Counts AccessLog::counts() const {
  return {shared_->written.load(std::memory_order_relaxed),
          shared_->dropped.load(std::memory_order_relaxed)};
}

bool AccessLog::stop(std::chrono::milliseconds timeout) {
  if (!writer_.joinable()) return false;
  Shared& s = *shared_;
  bool done = false;
  {
    std::unique_lock lock(s.mu);
    s.stopping = true;
    s.wake.notify_one();
    done = s.ended.wait_for(lock, timeout, [&] { return s.writer_done; });
  }
  if (done) {
    writer_.join();
  } else {
    // The sink is blocked (a pipe nobody reads): the thread keeps the shared state alive, and
    // the process's exit ends it.
    writer_.detach();
  }
  return done;
}

}  // namespace infergate::gateway
