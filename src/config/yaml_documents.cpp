#include "config/yaml_documents.hpp"

#include <yaml-cpp/eventhandler.h>

#include <sstream>

namespace infergate::config {
namespace {

// YAML streams hold printable characters only (YAML 1.2, c-printable): a control character
// other than tab, line feed and carriage return is an error at its line and column.
std::optional<SourceLocation> find_control_character(const std::string& text,
                                                     const std::string& name) {
  int line = 1;
  int column = 1;
  for (const char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte == '\n') {
      ++line;
      column = 1;
      continue;
    }
    if ((byte < 0x20 && byte != '\t' && byte != '\r') || byte == 0x7f)
      return SourceLocation{name, line, column};
    ++column;
  }
  return std::nullopt;
}

// yaml-cpp 0.7 cannot start a node with some tokens at the top level (a ',' there, alone or
// after an anchor or a tag). Its parser then reports an empty document without taking the
// token, and YAML::LoadAll asks for the next one forever, growing its list of documents. This
// handler sees only where each document starts: a document that starts where the one before
// it did means the parser made no progress.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> stuck_at;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (previous_ && previous_->pos == mark.pos) stuck_at = mark;
    previous_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnAlias(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnScalar(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                const std::string& /*value*/) override {}
  void OnSequenceStart(const YAML::Mark& /*mark*/, const std::string& /*tag*/,
                       YAML::anchor_t /*anchor*/, YAML::EmitterStyle::value /*style*/) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  YAML::EmitterStyle::value /*style*/) override {}
  void OnMapEnd() override {}

 private:
  std::optional<YAML::Mark> previous_;
};

// Runs the parser over the whole text without building nodes; nullopt when it ends.
std::optional<YAML::Mark> find_parser_stall(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  while (!starts.stuck_at && parser.HandleNextDocument(starts)) {
  }
  return starts.stuck_at;
}

SourceLocation at(const std::string& name, const YAML::Mark& mark) {
  return SourceLocation{name, mark.line + 1, mark.column + 1};
}

}  // namespace

std::optional<std::vector<YAML::Node>> parse_yaml_documents(const std::string& text,
                                                            const std::string& name,
                                                            Diagnostics& diagnostics) {
  if (const auto where = find_control_character(text, name)) {
    diagnostics.error(*where, "",
                      "invalid YAML: control character in the text (YAML allows tab, line feed "
                      "and carriage return only)");
    return std::nullopt;
  }
  try {
    if (const auto stall = find_parser_stall(text)) {
      diagnostics.error(at(name, *stall), "",
                        "invalid YAML: a document cannot start here (a ',' outside [ ] or { }?)");
      return std::nullopt;
    }
    return YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    diagnostics.error(at(name, e.mark), "", "invalid YAML: " + e.msg);
    return std::nullopt;
  }
}

}  // namespace infergate::config
