// OpenAI-style error responses, as OpenAI-compatible servers (vLLM, the OpenAI API) answer them:
// the HTTP status decides the error's `type` (named as the OpenAI SDKs name their exceptions:
// BadRequestError, NotFoundError, RateLimitError, ...), and the body is
// {"error":{"message":...,"type":...,"param":...,"code":<status>}} with `param` null when no
// request field is at fault. The gateway and the simulator both answer through these, so their
// errors cannot drift apart.
//
// Strings are escaped as JSON requires (`"`, `\`, control characters); bytes that are not valid
// UTF-8 (a message may quote what a client sent) become U+FFFD, so the body is always valid JSON.
//
// Thread-safety: pure functions. Depends on nothing but the standard library.
#pragma once

#include <string>
#include <string_view>

namespace infergate::openai {

// "BadRequestError", "NotFoundError", ... for an HTTP error status.
std::string_view error_type(int status);

// The error body for `status`; an empty `param` is written as null.
std::string error_body(int status, std::string_view message, std::string_view param = {});
// The same with a `type` of the caller's choosing instead of the status's.
std::string error_body_of_type(int status, std::string_view type, std::string_view message,
                               std::string_view param = {});

// Appends `text` as a JSON string, quotes included.
void append_json_string(std::string& out, std::string_view text);

}  // namespace infergate::openai
