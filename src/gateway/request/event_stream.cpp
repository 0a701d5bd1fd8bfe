#include "gateway/request/event_stream.hpp"

#include <cstring>

namespace infergate::gateway {

void EventStreamScanner::reset_event(std::size_t start) {
  event_start_ = start;
  data_lines_ = 0;
  joined_.clear();
}

void EventStreamScanner::discard(std::size_t n) {
  event_start_ = event_start_ > n ? event_start_ - n : 0;
  pos_ -= n;
  searched_ = searched_ > n ? searched_ - n : 0;
  data_begin_ = data_begin_ > n ? data_begin_ - n : 0;
  data_end_ = data_end_ > n ? data_end_ - n : 0;
}

// One whole line, buffer[begin, end), whose terminator ends at `next`.
void EventStreamScanner::line(std::string_view buffer, std::size_t begin, std::size_t end,
                              std::size_t next, std::vector<StreamEvent>& events) {
  if (begin == end) {  // a blank line ends the event
    if (data_lines_ > 0) {
      StreamEvent& e = events.emplace_back();
      e.begin = event_start_;
      e.end = next;
      if (data_lines_ == 1) {
        e.data_begin = data_begin_;
        e.data_end = data_end_;
      } else {
        e.joined = true;
        e.joined_data = std::move(joined_);
      }
    }
    reset_event(next);
    return;
  }
  const std::string_view text = buffer.substr(begin, end - begin);
  std::size_t value;
  if (text.starts_with("data:")) {
    value = 5;
  } else {
    if (text.front() == ':') return;  // a comment
    const std::size_t colon = text.find(':');
    if (text.substr(0, colon) != "data") return;  // "event", "id", "retry" or unknown: not read
    value = text.size();                          // "data" alone: an empty data line
  }
  if (value < text.size() && text[value] == ' ') ++value;
  const std::size_t value_begin = begin + value;
  if (data_lines_ == 0) {
    data_begin_ = value_begin;
    data_end_ = end;
  } else {
    if (data_lines_ == 1) joined_.assign(buffer.substr(data_begin_, data_end_ - data_begin_));
    joined_ += '\n';
    joined_.append(buffer.substr(value_begin, end - value_begin));
  }
  ++data_lines_;
}

EventStreamScanner::Status EventStreamScanner::scan(std::string_view buffer,
                                                    std::vector<StreamEvent>& events) {
  Status status = Status::kOk;
  const char* b = buffer.data();
  const std::size_t n = buffer.size();
  while (pos_ < n) {
    if (pending_cr_) {  // a "\r" ended the last scan: a "\n" now completes that "\r\n"
      pending_cr_ = false;
      if (b[pos_] == '\n') {
        ++pos_;
        continue;
      }
    }
    const std::size_t from = searched_ > pos_ ? searched_ : pos_;
    const void* nl = std::memchr(b + from, '\n', n - from);
    const std::size_t stop = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - b) : n;
    const void* cr = std::memchr(b + from, '\r', stop - from);
    std::size_t end, next;
    if (cr) {
      end = static_cast<std::size_t>(static_cast<const char*>(cr) - b);
      if (end + 1 < n) {
        next = end + (b[end + 1] == '\n' ? 2 : 1);
      } else {
        next = n;
        pending_cr_ = true;
      }
    } else if (nl) {
      end = stop;
      next = stop + 1;
    } else {  // the line goes on in bytes not here yet
      searched_ = n;
      if (skipping_) {
        partial_line_ = partial_line_ || n > pos_;
        pos_ = n;
      } else if (n - event_start_ > max_event_bytes_) {
        status = Status::kEventTooLarge;
        skipping_ = true;
        partial_line_ = n > pos_;
        pos_ = n;
      }
      break;
    }
    if (skipping_) {  // only a blank line matters: it ends the oversized event
      const bool blank = end == pos_ && !partial_line_;
      partial_line_ = false;
      pos_ = next;
      if (blank) {
        skipping_ = false;
        reset_event(next);
      }
      continue;
    }
    if (end - event_start_ > max_event_bytes_) {
      status = Status::kEventTooLarge;
      skipping_ = true;
      partial_line_ = false;
      reset_event(event_start_);
      if (end == pos_) {  // this blank line already ends it
        skipping_ = false;
        reset_event(next);
      }
      pos_ = next;
      continue;
    }
    line(buffer, pos_, end, next, events);
    pos_ = next;
  }
  return status;
}

void EventStreamScanner::finish(std::string_view buffer, std::vector<StreamEvent>& events) {
  const std::size_t n = buffer.size();
  if (!skipping_) {
    if (pos_ < n) line(buffer, pos_, n, n, events);
    line(buffer, n, n, n, events);  // the blank line that never came
  }
  pos_ = searched_ = n;
  skipping_ = pending_cr_ = partial_line_ = false;
  reset_event(n);
}

}  // namespace infergate::gateway
