#include "sim/server/openai_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace infergate::sim {
namespace {
namespace json = boost::json;

GenerationRequest ok(ApiKind kind, std::string_view body) {
  auto r = parse_generation_request(kind, body);
  EXPECT_TRUE(std::holds_alternative<GenerationRequest>(r)) << body;
  return std::get<GenerationRequest>(r);
}

ApiError fail(ApiKind kind, std::string_view body) {
  auto r = parse_generation_request(kind, body);
  EXPECT_TRUE(std::holds_alternative<ApiError>(r)) << body;
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r) : ApiError{};
}

TEST(ParseRequest, Completions) {
  const auto r = ok(ApiKind::kCompletions,
                    R"({"model":"m","prompt":"hello","max_tokens":7,"stream":true,
                        "stream_options":{"include_usage":true},"ignore_eos":true})");
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.prompt, "hello");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.ignore_eos);
}

TEST(ParseRequest, CompletionsWithTokenIds) {
  const auto r = ok(ApiKind::kCompletions, R"({"model":"m","prompt":[1,2,3]})");
  EXPECT_EQ(r.prompt_tokens, (std::vector<TokenId>{1, 2, 3}));
}

TEST(ParseRequest, ChatRendersMessagesAndTextParts) {
  const auto r = ok(ApiKind::kChat, R"({"model":"m","max_completion_tokens":3,"messages":[
      {"role":"system","content":"sys"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]})");
  EXPECT_NE(r.prompt.find("sys"), std::string::npos);
  EXPECT_NE(r.prompt.find("ab"), std::string::npos);
  EXPECT_EQ(r.max_tokens, 3);
}

TEST(ParseRequest, Embeddings) {
  const auto r = ok(ApiKind::kEmbeddings, R"({"model":"m","input":["a","b"]})");
  EXPECT_EQ(r.embedding_inputs, 2u);
}

TEST(ParseRequest, BadInputsAre400WithTheParam) {
  EXPECT_EQ(fail(ApiKind::kCompletions, "{not json").status, 400);
  EXPECT_EQ(fail(ApiKind::kCompletions, "[]").status, 400);
  EXPECT_EQ(fail(ApiKind::kCompletions, R"({"prompt":"x"})").param, "model");
  EXPECT_EQ(fail(ApiKind::kCompletions, R"({"model":"m"})").param, "prompt");
  EXPECT_EQ(fail(ApiKind::kCompletions, R"({"model":"m","prompt":""})").status, 400);
  EXPECT_EQ(fail(ApiKind::kCompletions, R"({"model":"m","prompt":"x","max_tokens":0})").param,
            "max_tokens");
  EXPECT_EQ(fail(ApiKind::kCompletions, R"({"model":"m","prompt":"x","stream":"yes"})").param,
            "stream");
  EXPECT_EQ(fail(ApiKind::kCompletions, R"({"model":"m","prompt":"x","n":2})").param, "n");
  EXPECT_EQ(fail(ApiKind::kChat, R"({"model":"m","messages":[]})").param, "messages");
  EXPECT_EQ(fail(ApiKind::kChat, R"({"model":"m","messages":[{"content":"x"}]})").param,
            "messages");
  EXPECT_EQ(fail(ApiKind::kEmbeddings, R"({"model":"m"})").param, "input");
  EXPECT_EQ(fail(ApiKind::kCompletions,
                 R"({"model":"m","prompt":"x","stream_options":{"include_usage":true}})")
                .param,
            "stream_options");
}

TEST(ErrorBody, OpenAiShape) {
  const auto body = json::parse(error_body({404, "The model `x` does not exist.", "model"}));
  const auto& e = body.at("error");
  EXPECT_EQ(e.at("type").as_string(), "NotFoundError");
  EXPECT_EQ(e.at("code").as_int64(), 404);
  EXPECT_EQ(e.at("param").as_string(), "model");
  EXPECT_EQ(e.at("message").as_string(), "The model `x` does not exist.");
  EXPECT_TRUE(json::parse(error_body({500, "boom", {}})).at("error").at("param").is_null());
  EXPECT_EQ(json::parse(error_body({429, "slow down", {}})).at("error").at("type").as_string(),
            "RateLimitError");
}

ResponseContext context(ApiKind kind, bool usage) {
  return ResponseContext{kind, "cmpl-1", 1700000000, quote_json("m\"q"), usage};
}

TEST(StreamChunks, AreValidJsonInVllmShape) {
  std::string out;
  const auto ctx = context(ApiKind::kCompletions, true);
  append_token_chunk(out, ctx, 0, nullptr);
  append_token_chunk(out, ctx, 1, "length");
  append_usage_chunk(out, ctx, {10, 2, 8});
  append_done(out);
  std::vector<std::string> payloads;
  std::size_t pos = 0;
  while ((pos = out.find("data: ", pos)) != std::string::npos) {
    const auto end = out.find("\n\n", pos);
    payloads.push_back(out.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  ASSERT_EQ(payloads.size(), 4u);
  const auto first = json::parse(payloads[0]);
  EXPECT_EQ(first.at("model").as_string(), "m\"q");
  EXPECT_EQ(first.at("object").as_string(), "text_completion");
  EXPECT_TRUE(first.at("usage").is_null());
  EXPECT_TRUE(first.at("choices").at(0).at("finish_reason").is_null());
  EXPECT_EQ(json::parse(payloads[1]).at("choices").at(0).at("finish_reason").as_string(), "length");
  const auto usage = json::parse(payloads[2]);
  EXPECT_TRUE(usage.at("choices").as_array().empty());
  EXPECT_EQ(usage.at("usage").at("prompt_tokens_details").at("cached_tokens").as_int64(), 8);
  EXPECT_EQ(usage.at("usage").at("total_tokens").as_int64(), 12);
  EXPECT_EQ(payloads[3], "[DONE]");
}

TEST(StreamChunks, ChatUsesDeltas) {
  std::string out;
  const auto ctx = context(ApiKind::kChat, false);
  append_role_chunk(out, ctx);
  append_token_chunk(out, ctx, 0, "stop");
  const auto second = out.substr(out.find("\n\ndata: ") + 8);
  const auto chunk = json::parse(second.substr(0, second.find("\n\n")));
  EXPECT_EQ(chunk.at("object").as_string(), "chat.completion.chunk");
  EXPECT_EQ(chunk.at("choices").at(0).at("delta").at("content").as_string(),
            std::string(Tokenizer::output_piece(0)));
  EXPECT_FALSE(chunk.as_object().contains("usage"));
}

TEST(Bodies, CompletionChatEmbeddingsModels) {
  const auto c =
      json::parse(completion_body(context(ApiKind::kCompletions, false), 3, "stop", {5, 3, 0}));
  EXPECT_EQ(c.at("choices").at(0).at("text").as_string().size(), 12u);
  EXPECT_EQ(c.at("usage").at("completion_tokens").as_int64(), 3);
  const auto chat =
      json::parse(completion_body(context(ApiKind::kChat, false), 2, "length", {5, 2, 0}));
  EXPECT_EQ(chat.at("object").as_string(), "chat.completion");
  EXPECT_EQ(chat.at("choices").at(0).at("message").at("role").as_string(), "assistant");
  const auto emb =
      json::parse(embeddings_body(context(ApiKind::kEmbeddings, false), 2, 8, {4, 0, 0}));
  EXPECT_EQ(emb.at("data").as_array().size(), 2u);
  EXPECT_EQ(emb.at("data").at(1).at("embedding").as_array().size(), 8u);
  const auto models =
      json::parse(models_body({{"base", "base", ""}, {"lora", "/p", "base"}}, 1, 4096));
  EXPECT_TRUE(models.at("data").at(0).at("parent").is_null());
  EXPECT_EQ(models.at("data").at(1).at("parent").as_string(), "base");
}

}  // namespace
}  // namespace infergate::sim
