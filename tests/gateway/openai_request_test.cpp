#include "gateway/request/openai_request.hpp"

#include <gtest/gtest.h>

#include "common/text_pieces.hpp"
#include "gateway/request/response_json.hpp"

namespace infergate::gateway {
namespace {

// The prompt's pieces read as one text.
std::string text(const ParsedRequest& r) { return TextPieces(r.prompt).joined(); }

ParsedRequest ok(ApiType api, std::string_view body) {
  auto r = parse_openai_request(api, body);
  EXPECT_TRUE(std::holds_alternative<ParsedRequest>(r)) << body;
  return std::get<ParsedRequest>(r);
}

TEST(OpenAiRequest, ApiFromPath) {
  EXPECT_EQ(api_type_for_path("/v1/chat/completions"), ApiType::kChatCompletions);
  EXPECT_EQ(api_type_for_path("/v1/completions"), ApiType::kCompletions);
  EXPECT_EQ(api_type_for_path("/v1/embeddings"), ApiType::kEmbeddings);
  EXPECT_EQ(api_type_for_path("/v1/responses"), ApiType::kResponses);
  EXPECT_FALSE(api_type_for_path("/v1/models"));
}

TEST(OpenAiRequest, ReadsFieldsAndPromptText) {
  const auto r = ok(
      ApiType::kChatCompletions,
      R"({"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}],
                        "model" : "m\"x" ,"stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":9})");
  EXPECT_EQ(r.model, "m\"x");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.max_tokens, 9);
  EXPECT_EQ(text(r), "system\nbe brief\nuser\nhi\n");
}

TEST(OpenAiRequest, RewriteTouchesOnlyTheModelValue) {
  const std::string body = R"({"prompt":"a \"model\": b", "model" : "m\"x" , "n":1})";
  const auto r = ok(ApiType::kCompletions, body);
  EXPECT_EQ(rewrite_model(body, r, "lora/new"),
            R"({"prompt":"a \"model\": b", "model" : "lora/new" , "n":1})");
  EXPECT_EQ(text(r), R"(a \"model\": b)") << "the text as the body writes it";
}

TEST(OpenAiRequest, OnlyThePromptTextThePickersReadIsKept) {
  const std::string content(100000, 'w');
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":")" + content + R"("}],"max_tokens":3})";
  const auto whole = parse_openai_request(ApiType::kChatCompletions, body);
  const auto capped = parse_openai_request(ApiType::kChatCompletions, body, 0, {}, 1000);
  ASSERT_TRUE(std::holds_alternative<ParsedRequest>(whole));
  ASSERT_TRUE(std::holds_alternative<ParsedRequest>(capped));
  const ParsedRequest& w = std::get<ParsedRequest>(whole);
  const ParsedRequest& c = std::get<ParsedRequest>(capped);
  EXPECT_EQ(text(w), "user\n" + content + "\n");
  EXPECT_EQ(text(c), text(w).substr(0, 1000));
  EXPECT_EQ(c.prompt_chars, text(w).size()) << "the estimate counts what was not kept";
  EXPECT_EQ(w.prompt_chars, text(w).size());
}

TEST(OpenAiRequest, ParsedInPlaceWhenTheBufferGoesOnPastTheBody) {
  // The front end's buffer: the body, then bytes of a pipelined request and room it has not
  // filled. Parsed where it lies, the body gives what a padded copy gives; bytes past it
  // (which the parser may read) change nothing.
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"hello"}],"max_tokens":3})";
  for (const std::string& tail :
       {std::string(kJsonPadding, '"'), std::string(kJsonPadding + 7, '}'),
        "POST /v1/completions HTTP/1.1\r\n" + std::string(kJsonPadding, '[')}) {
    const std::string buffer = body + tail;
    const auto r = parse_openai_request(
        ApiType::kChatCompletions, std::string_view(buffer).substr(0, body.size()), buffer.size());
    ASSERT_TRUE(std::holds_alternative<ParsedRequest>(r)) << tail;
    const ParsedRequest& in_place = std::get<ParsedRequest>(r);
    const ParsedRequest copied = ok(ApiType::kChatCompletions, body);
    EXPECT_EQ(in_place.model, copied.model);
    EXPECT_EQ(in_place.model_offset, copied.model_offset);
    EXPECT_EQ(in_place.model_length, copied.model_length);
    EXPECT_EQ(in_place.max_tokens, copied.max_tokens);
    EXPECT_EQ(text(in_place), "user\nhello\n");
  }
  // A truncated body stays an error, whatever follows it.
  const std::string buffer = R"({"model":"m","prompt":"x")" + std::string(kJsonPadding, '}');
  EXPECT_TRUE(std::holds_alternative<RequestError>(parse_openai_request(
      ApiType::kCompletions, std::string_view(buffer).substr(0, 25), buffer.size())));
}

// The prompt is never copied: its pieces are views into the body given, also when the body is
// parsed from a padded copy (the pieces are moved back to the same place in the body), except
// the newlines after each message's role and content.
TEST(OpenAiRequest, ThePromptsPiecesAreViewsIntoTheBody) {
  const std::string body =
      R"({"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}]})";
  for (const std::size_t readable : {std::size_t{0}, body.size() + kJsonPadding}) {
    std::string buffer = body + std::string(kJsonPadding, ' ');
    const auto r = parse_openai_request(ApiType::kChatCompletions,
                                        std::string_view(buffer).substr(0, body.size()), readable);
    ASSERT_TRUE(std::holds_alternative<ParsedRequest>(r));
    const ParsedRequest& p = std::get<ParsedRequest>(r);
    EXPECT_EQ(text(p), "system\nbe brief\nuser\nhello there\n");
    ASSERT_EQ(p.prompt.size(), 8u);
    for (std::size_t i = 0; i < p.prompt.size(); i += 2) {
      EXPECT_GE(p.prompt[i].data(), buffer.data()) << "piece " << i;
      EXPECT_LE(p.prompt[i].data() + p.prompt[i].size(), buffer.data() + body.size());
      EXPECT_EQ(p.prompt[i + 1], "\n");
    }
  }
}

TEST(OpenAiRequest, Errors) {
  for (const char* bad : {"", "[]", "{", R"({"prompt":"x"})", R"({"model":""})", R"({"model":1})",
                          R"({"model":"m","stream":1})", R"({"model":"m","max_tokens":"9"})",
                          // found by fuzzing: a malformed literal where a boolean belongs
                          R"({"model":"m","stream":nrue})"}) {
    EXPECT_TRUE(
        std::holds_alternative<RequestError>(parse_openai_request(ApiType::kCompletions, bad)))
        << bad;
  }
  const auto e =
      std::get<RequestError>(parse_openai_request(ApiType::kCompletions, R"({"prompt":"x"})"));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "model");
}

TEST(ResponseJson, FindsModelAndUsage) {
  const std::string body =
      R"({"id":"x","model":"target","choices":[{"text":"ab"},{"delta":{"content":"c"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}})";
  const auto info = inspect_response_json(body);
  ASSERT_TRUE(info.valid);
  ASSERT_TRUE(info.usage);
  EXPECT_EQ(info.usage->prompt_tokens, 3);
  EXPECT_EQ(info.usage->completion_tokens, 4);
  EXPECT_EQ(info.usage->cached_tokens, 2);
  EXPECT_EQ(info.content_pieces, 2);
  std::string out;
  append_with_model(out, body, info, R"("client")");
  EXPECT_EQ(out.find("target"), std::string::npos);
  EXPECT_NE(out.find(R"("model":"client")"), std::string::npos);
  EXPECT_FALSE(inspect_response_json("not json").valid);
  EXPECT_FALSE(inspect_response_json(R"({"usage":null})").usage);
}

}  // namespace
}  // namespace infergate::gateway
