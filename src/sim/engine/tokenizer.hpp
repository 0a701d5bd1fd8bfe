// A deterministic stand-in for a real tokenizer: every 4 bytes of text are one token.
//
// The simulator only needs token ids to hash KV blocks and to count tokens, so the mapping
// must be cheap and stable: identical text prefixes give identical leading tokens, and a
// prompt of N*4 bytes is N tokens. Four bytes per token matches the usual English average
// of Llama-3's tokenizer, and the approximation the gateway's prefix scorer uses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::sim {

using TokenId = std::uint32_t;

inline constexpr std::size_t kBytesPerToken = 4;
inline constexpr TokenId kVocabularySize = 128256;  // Llama-3

class Tokenizer {
 public:
  static std::vector<TokenId> encode(std::string_view text);
  static void encode_append(std::string_view text, std::vector<TokenId>& out);
  static std::size_t count(std::string_view text) {
    return (text.size() + kBytesPerToken - 1) / kBytesPerToken;
  }
  // The text of the i-th generated token of a response: 4-byte words of a fixed passage, so
  // a response of n tokens is about 4n bytes and reads as words.
  static std::string_view output_piece(std::size_t index);
  // Token id of the i-th generated token of a request seeded with `seed`.
  static TokenId output_token(std::uint64_t seed, std::size_t index);
};

// Renders chat messages as one prompt, the way a chat template does: role markers around each
// message's content, so the same conversation prefix yields the same prompt prefix.
struct ChatMessage {
  std::string role;
  std::string content;
};
std::string render_chat_prompt(const std::vector<ChatMessage>& messages);

}  // namespace infergate::sim
