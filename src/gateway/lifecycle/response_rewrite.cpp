#include "gateway/lifecycle/response_rewrite.hpp"

#include "gateway/request/response_json.hpp"
#include "sse/sse.hpp"

namespace infergate::gateway {

// Reads usage and generated pieces; with a rewrite, appends the bytes up to the event's end
// (from copied_ on) to out_, the client's model name spliced in.
void EventRelay::take(const StreamEvent& e) {
  const std::string_view data = e.data(buffer_);
  if (data == sse::kDone) return;
  const ResponseJson info = skimmer_.skim(data);
  if (info.usage) record_.usage = info.usage;
  record_.counted_output += info.content_pieces;
  if (first_content_ && info.content_pieces > 0) {
    record_.ttft = clock_.now() - started_;
    first_content_ = false;
  }
  if (client_model_.empty() || !info.valid || info.model_length == 0) return;
  if (!e.joined) {
    const std::size_t at = e.data_begin + info.model_offset;
    out_.append(buffer_, copied_, at - copied_);
    out_ += client_model_;
    copied_ = at + info.model_length;
    return;
  }
  // Several data lines: write the event again, one data line per line of the new text.
  out_.append(buffer_, copied_, e.begin - copied_);
  std::string text;
  append_with_model(text, data, info, client_model_);
  sse::append_event(out_, text);
  copied_ = e.end;
}

std::string_view EventRelay::complete() {
  events_.clear();
  if (scanner_.scan(buffer_, events_) != EventStreamScanner::Status::kOk) oversized_ = true;
  out_.clear();
  copied_ = 0;
  for (const StreamEvent& e : events_) take(e);
  complete_ = scanner_.complete_end();
  if (client_model_.empty()) return std::string_view(buffer_).substr(0, complete_);
  out_.append(buffer_, copied_, complete_ - copied_);
  return out_;
}

void EventRelay::consume() {
  buffer_.erase(0, complete_);
  scanner_.discard(complete_);
  complete_ = 0;
}

std::string_view EventRelay::finish() {
  events_.clear();
  scanner_.finish(buffer_, events_);
  out_.clear();
  copied_ = 0;
  for (const StreamEvent& e : events_) take(e);
  complete_ = buffer_.size();
  if (client_model_.empty()) return buffer_;
  out_.append(buffer_, copied_, buffer_.size() - copied_);
  return out_;
}

std::string rewrite_whole_body(RequestRecord& record, std::string body,
                               const std::string& quoted_client_model) {
  const ResponseJson info = skim_response_json(body);
  if (info.usage) record.usage = info.usage;
  record.counted_output = info.content_pieces;
  if (quoted_client_model.empty() || !info.valid) return body;
  std::string out;
  append_with_model(out, body, info, quoted_client_model);
  return out;
}

}  // namespace infergate::gateway
