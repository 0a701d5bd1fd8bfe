#include "openai/error.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>

namespace infergate::openai {
namespace {
namespace json = boost::json;

// Every status the gateway and the simulator answer with today, and the type each gets.
TEST(OpenAiError, TypeOfEveryStatusInUse) {
  struct Case {
    int status;
    std::string_view type;
    const char* who;
  };
  const Case cases[] = {
      {400, "BadRequestError", "both: malformed or invalid requests"},
      {401, "AuthenticationError", "gateway: API key missing or unknown"},
      {403, "PermissionDeniedError", "none today: OpenAI's type, kept for API keys' scopes"},
      {404, "NotFoundError", "both: unknown route, model or adapter"},
      {405, "BadRequestError", "both: wrong method"},
      {408, "BadRequestError", "gateway: the client was too slow sending its request"},
      {413, "BadRequestError", "both: body too large"},
      {429, "RateLimitError", "gateway: shed by flow control; simulator: injected"},
      {431, "BadRequestError", "both: request headers too large"},
      {500, "InternalServerError", "both"},
      {502, "InternalServerError", "gateway: the model server failed"},
      {503, "ServiceUnavailableError", "both: no endpoint / not ready"},
      {504, "GatewayTimeoutError", "gateway: request timeout; simulator: injected"},
      {418, "BadRequestError", "any other 4xx"},
      {599, "InternalServerError", "any other 5xx"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(error_type(c.status), c.type) << c.status << " (" << c.who << ")";
    const auto body = json::parse(error_body(c.status, "m"));
    EXPECT_EQ(body.at("error").at("type").as_string(), c.type) << c.status;
    EXPECT_EQ(body.at("error").at("code").as_int64(), c.status);
  }
}

TEST(OpenAiError, BodyShape) {
  EXPECT_EQ(error_body(404, "The model `x` does not exist.", "model"),
            R"({"error":{"message":"The model `x` does not exist.","type":"NotFoundError",)"
            R"("param":"model","code":404}})");
  EXPECT_EQ(error_body(503, "busy"),
            R"({"error":{"message":"busy","type":"ServiceUnavailableError","param":null,)"
            R"("code":503}})");
}

std::string quoted(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(OpenAiError, JsonEscapes) {
  EXPECT_EQ(quoted(""), R"("")");
  EXPECT_EQ(quoted("plain text / 100%"), R"("plain text / 100%")");
  EXPECT_EQ(quoted("say \"hi\" \\ there"), R"("say \"hi\" \\ there")");
  EXPECT_EQ(quoted("a\nb\rc\td\be\ff"), R"("a\nb\rc\td\be\ff")");
  EXPECT_EQ(quoted(std::string_view("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(quoted("caf\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x98\x80\"");  // valid UTF-8 stays as it is
}

TEST(OpenAiError, InvalidUtf8BecomesReplacementCharacters) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(quoted("a\x80z"), "\"a" + r + "z\"");                      // a lone continuation byte
  EXPECT_EQ(quoted("\xC0\xAF"), "\"" + r + r + "\"");                  // an overlong '/'
  EXPECT_EQ(quoted("\xED\xA0\x80"), "\"" + r + r + r + "\"");          // a UTF-16 surrogate
  EXPECT_EQ(quoted("\xF4\x90\x80\x80"), "\"" + r + r + r + r + "\"");  // above U+10FFFF
  EXPECT_EQ(quoted("\xE2\x82x"), "\"" + r + "x\"");                    // cut short, then ASCII
  EXPECT_EQ(quoted("end\xF0\x9F\x98"), "\"end" + r + "\"");            // cut short at the end
  EXPECT_EQ(quoted("\xFF\xFE"), "\"" + r + r + "\"");
}

TEST(OpenAiError, EveryByteStringGivesValidJson) {
  // Messages may quote what a client sent: whatever the bytes, the body parses and keeps the
  // printable text.
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (std::size_t from = 0; from < all.size(); from += 7) {
    const std::string message = all.substr(from) + "tail";
    const auto body = json::parse(error_body(400, message, message));
    const std::string_view text = body.at("error").at("message").as_string();
    EXPECT_TRUE(text.ends_with("tail"));
    EXPECT_EQ(body.at("error").at("param").as_string(), text);
  }
}

}  // namespace
}  // namespace infergate::openai
