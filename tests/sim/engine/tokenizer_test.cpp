#include "sim/engine/tokenizer.hpp"

#include <gtest/gtest.h>

namespace infergate::sim {
namespace {

TEST(Tokenizer, FourBytesPerToken) {
  EXPECT_EQ(Tokenizer::encode("").size(), 0u);
  EXPECT_EQ(Tokenizer::encode("abcd").size(), 1u);
  EXPECT_EQ(Tokenizer::encode("abcde").size(), 2u);
  EXPECT_EQ(Tokenizer::count("abcdefgh"), 2u);
}

TEST(Tokenizer, SharedPrefixGivesSharedLeadingTokens) {
  const auto a = Tokenizer::encode("the same system prompt|question one");
  const auto b = Tokenizer::encode("the same system prompt|another question");
  ASSERT_GE(a.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(a[i], b[i]);
  EXPECT_NE(a[6], b[6]);
  for (TokenId t : a) EXPECT_LT(t, kVocabularySize);
}

TEST(Tokenizer, OutputIsDeterministicPerSeed) {
  EXPECT_EQ(Tokenizer::output_token(1, 5), Tokenizer::output_token(1, 5));
  EXPECT_NE(Tokenizer::output_token(1, 5), Tokenizer::output_token(2, 5));
  EXPECT_EQ(Tokenizer::output_piece(3).size(), kBytesPerToken);
}

TEST(ChatTemplate, SamePrefixForSameConversationStart) {
  const std::vector<ChatMessage> a = {{"system", "be brief"}, {"user", "hi"}};
  const std::vector<ChatMessage> b = {{"system", "be brief"}, {"user", "hello"}};
  const auto pa = render_chat_prompt(a), pb = render_chat_prompt(b);
  const auto sys = render_chat_prompt({{"system", "be brief"}});
  const std::string common = sys.substr(0, sys.find("<|start_header_id|>assistant"));
  EXPECT_EQ(pa.rfind(common, 0), 0u);
  EXPECT_EQ(pb.rfind(common, 0), 0u);
  EXPECT_NE(pa, pb);
}

}  // namespace
}  // namespace infergate::sim
