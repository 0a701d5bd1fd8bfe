#include "metrics/prometheus_writer.hpp"

#include <cassert>
#include <charconv>
#include <cmath>

namespace infergate::metrics {
namespace {

[[maybe_unused]] bool valid_name(std::string_view name, bool colons) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0) && !(colons && c == ':')) return false;
  }
  return true;
}

// Appends `text`, each character of `specials` written as a backslash and its escape letter.
void append_escaped(std::string& out, std::string_view text, std::string_view specials) {
  for (;;) {
    const std::size_t at = text.find_first_of(specials);
    if (at == std::string_view::npos) {
      out += text;
      return;
    }
    out.append(text.data(), at);
    out += '\\';
    out += text[at] == '\n' ? 'n' : text[at];
    text.remove_prefix(at + 1);
  }
}

// Label values escape `\`, `"` and newline; HELP text escapes `\` and newline.
void append_label_value(std::string& out, std::string_view value) {
  append_escaped(out, value, "\\\"\n");
}

void append_help_text(std::string& out, std::string_view help) {
  append_escaped(out, help, "\\\n");
}

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

LabelSet::LabelSet(std::initializer_list<Label> labels) {
  for (const Label& l : labels) add(l.name, l.value);
}

LabelSet& LabelSet::add(std::string_view name, std::string_view value) {
  assert(valid_name(name, false) && "a label name is [a-zA-Z_][a-zA-Z0-9_]*");
  if (!text_.empty()) text_ += ',';
  text_ += name;
  text_ += "=\"";
  append_label_value(text_, value);
  text_ += '"';
  return *this;
}

LabelSet& LabelSet::append(const LabelSet& more) {
  if (!text_.empty() && !more.text_.empty()) text_ += ',';
  text_ += more.text_;
  return *this;
}

void append_number(std::string& out, double value, NumberStyle style) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  const double magnitude = std::fabs(value);
  // Counts and most gauges: integer digits, the cheapest conversion.
  if (magnitude < 1e15 && value == std::trunc(value)) {
    const auto end = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(value)).ptr;
    out.append(buf, end);
    if (style == NumberStyle::kPython) out += ".0";
    return;
  }
  const bool fixed = magnitude >= 1e-4 && magnitude < 1e16;
  const auto end = std::to_chars(buf, buf + sizeof buf, value,
                                 fixed ? std::chars_format::fixed : std::chars_format::scientific)
                       .ptr;
  const std::string_view text(buf, static_cast<std::size_t>(end - buf));
  out += text;
  if (style == NumberStyle::kPython && text.find_first_of(".e") == std::string_view::npos)
    out += ".0";
}

void PrometheusWriter::family(std::string_view name, MetricType type, std::string_view help) {
  assert(valid_name(name, true) && "a metric name is [a-zA-Z_:][a-zA-Z0-9_:]*");
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_help_text(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type_name(type);
  out_ += '\n';
}

void PrometheusWriter::sample(std::string_view name, double value) {
  out_ += name;
  end_line(value);
}

void PrometheusWriter::sample(std::string_view name, const LabelSet& labels, double value) {
  out_ += name;
  append_labels(labels);
  end_line(value);
}

void PrometheusWriter::histogram(std::string_view name, const LabelSet& labels,
                                 std::span<const double> bounds,
                                 std::span<const std::uint64_t> counts, double sum,
                                 std::uint64_t count) {
  assert(counts.size() == bounds.size() + 1);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    // `le` goes last, written in place: a number needs no escaping.
    out_ += name;
    out_ += "_bucket{";
    if (!labels.empty()) {
      out_ += labels.text();
      out_ += ',';
    }
    out_ += "le=\"";
    if (i < bounds.size())
      append_number(out_, bounds[i], style_);
    else
      out_ += "+Inf";
    out_ += "\"}";
    end_line(static_cast<double>(cumulative));
  }
  out_ += name;
  out_ += "_sum";
  append_labels(labels);
  end_line(sum);
  out_ += name;
  out_ += "_count";
  append_labels(labels);
  end_line(static_cast<double>(count));
}

// `{labels}`; nothing without labels.
void PrometheusWriter::append_labels(const LabelSet& labels) {
  if (labels.empty()) return;
  out_ += '{';
  out_ += labels.text();
  out_ += '}';
}

void PrometheusWriter::end_line(double value) {
  out_ += ' ';
  append_number(out_, value, style_);
  out_ += '\n';
}

}  // namespace infergate::metrics
