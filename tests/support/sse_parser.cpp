#include "support/sse_parser.hpp"

namespace infergate::testing {

SseParser::Status SseParser::feed(std::string_view bytes,
                                  const std::function<void(const SseEvent&)>& on_event) {
  while (!bytes.empty()) {
    if (last_was_cr_ && bytes.front() == '\n') {  // second half of "\r\n"
      bytes.remove_prefix(1);
      last_was_cr_ = false;
      continue;
    }
    last_was_cr_ = false;
    std::size_t end = 0;
    while (end < bytes.size() && bytes[end] != '\n' && bytes[end] != '\r') ++end;
    line_.append(bytes.data(), end);
    if (line_.size() + data_.size() > max_event_bytes_) {
      line_.clear();
      data_.clear();
      has_data_ = false;
      return Status::kEventTooLarge;
    }
    if (end == bytes.size()) break;  // the line continues in the next piece
    last_was_cr_ = bytes[end] == '\r';
    bytes.remove_prefix(end + 1);
    finish_line(on_event);
  }
  return Status::kOk;
}

void SseParser::finish(const std::function<void(const SseEvent&)>& on_event) {
  if (!line_.empty()) finish_line(on_event);
  finish_line(on_event);  // the blank line that never came
  last_was_cr_ = false;
}

void SseParser::finish_line(const std::function<void(const SseEvent&)>& on_event) {
  if (line_.empty()) {  // blank line: dispatch
    if (has_data_) on_event(SseEvent{event_, data_});
    data_.clear();
    event_.clear();
    has_data_ = false;
    return;
  }
  std::string_view line = line_;
  if (line.front() != ':') {
    const std::size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (has_data_) data_.push_back('\n');
      data_.append(value);
      has_data_ = true;
    } else if (field == "event") {
      event_.assign(value);
    }
  }
  line_.clear();
}

}  // namespace infergate::testing
