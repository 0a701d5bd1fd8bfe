// The access log: one line per request, JSON (one object per line, keys in a fixed order) or
// key=value text, written off the event loop (docs/observability.md, "Access log").
//
// A worker formats its request's line and appends it to a bounded buffer (a short lock, never a
// wait for I/O); a writer thread of the log's own takes everything buffered at once and writes
// it to the sink. A line that does not fit the buffer is dropped and counted, so a slow sink
// (a full pipe, a slow disk) costs log lines, never request latency.
//
// The line holds what the RequestRecord holds: names, numbers, the request and trace ids and
// the error's message. Never a prompt, a completion, a credential or any other header value.
//
// Thread-safety: record(), submit() and counts() from any thread; stop() from one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "gateway/lifecycle/request_context.hpp"

namespace infergate::gateway {

enum class AccessLogFormat { kJson, kText };

// `time` is when the request arrived (the wall clock at its end less its duration), RFC 3339 in
// UTC with milliseconds. Appends the line and its '\n' to `out`.
void append_access_log_line(std::string& out, const RequestRecord& record, AccessLogFormat format,
                            std::chrono::system_clock::time_point arrived);

// Where the lines go. Called by the writer thread alone.
class AccessLogSink {
 public:
  virtual ~AccessLogSink() = default;
  // Writes `lines` (whole lines); false when they could not be written (they count as dropped).
  virtual bool write(std::string_view lines) = 0;
};

// The process's standard output.
std::unique_ptr<AccessLogSink> stdout_sink();
// A file opened for appending (created if need be); null, with `error` set, when it cannot be.
std::unique_ptr<AccessLogSink> file_sink(const std::string& path, std::string& error);

struct AccessLogOptions {
  bool enabled = true;
  AccessLogFormat format = AccessLogFormat::kJson;
  std::string file{};  // empty: standard output
  // Bytes of lines waiting for the writer (about 2000 to 4000 lines); a line that would go past
  // them is dropped. The batch being written is apart, so at most twice this is held.
  std::size_t buffer_bytes = std::size_t{1} << 20;
  // At stop, how long the writer may take to write what is buffered; a sink still blocked then
  // (a pipe nobody reads) is left to the process's exit with its lines.
  std::chrono::milliseconds drain_timeout{1000};
  // How often the writer writes under traffic (sooner when a quarter of the buffer has filled):
  // a line reaches the sink within about this, and costs its worker no system call.
  std::chrono::milliseconds flush_interval{20};
  // The wall clock for `time` (injected by tests).
  std::chrono::system_clock::time_point (*wall_clock)() = &std::chrono::system_clock::now;
};

class AccessLog {
 public:
  // Starts the writer thread.
  AccessLog(const AccessLogOptions& options, std::unique_ptr<AccessLogSink> sink);
  ~AccessLog();  // stop(options.drain_timeout), unless stopped already
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Formats the record's line and submits it.
  void record(const RequestRecord& record);
  // Buffers whole lines (each ending in '\n') for the writer; false when they were dropped (no
  // room, or stopped).
  bool submit(std::string_view lines, std::uint64_t line_count = 1);

  struct Counts {
    std::uint64_t written = 0;  // handed to the sink, which took them
    std::uint64_t dropped = 0;  // no room in the buffer, submitted after stop, or a failed write
  };
  Counts counts() const;

  // Takes no more lines and lets the writer write what is buffered, waiting up to `timeout`:
  // true when everything was written and the writer ended.
  bool stop(std::chrono::milliseconds timeout);

 private:
  struct Shared;
  static void write_loop(const std::shared_ptr<Shared>& shared);

  const AccessLogOptions options_;
  // The buffer, the counters and the sink, shared with the writer thread, which may outlive
  // this object when its sink never returns (the thread is then detached).
  std::shared_ptr<Shared> shared_;
  std::thread writer_;
};

}  // namespace infergate::gateway
