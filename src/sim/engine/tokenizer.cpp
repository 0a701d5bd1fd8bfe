#include "sim/engine/tokenizer.hpp"

#include <array>
#include <cstring>

namespace infergate::sim {
namespace {

// 4-byte pieces that the simulator "generates"; each is one token.
constexpr std::array<std::string_view, 16> kPieces = {
    " the", " sim", " ran", " one", " KV ", "blck", " and", " for",
    " GPU", " lot", " tok", " en ", " was", " bat", " ch ", " ok."};

}  // namespace

void Tokenizer::encode_append(std::string_view text, std::vector<TokenId>& out) {
  out.reserve(out.size() + count(text));
  std::size_t i = 0;
  for (; i + kBytesPerToken <= text.size(); i += kBytesPerToken) {
    std::uint32_t word = 0;
    std::memcpy(&word, text.data() + i, kBytesPerToken);
    out.push_back(word % kVocabularySize);
  }
  if (i < text.size()) {
    std::uint32_t word = 0;
    std::memcpy(&word, text.data() + i, text.size() - i);
    out.push_back(word % kVocabularySize);
  }
}

std::vector<TokenId> Tokenizer::encode(std::string_view text) {
  std::vector<TokenId> out;
  encode_append(text, out);
  return out;
}

std::string_view Tokenizer::output_piece(std::size_t index) {
  return kPieces[index % kPieces.size()];
}

TokenId Tokenizer::output_token(std::uint64_t seed, std::size_t index) {
  // splitmix64 step: cheap, and distinct requests produce distinct continuations.
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<TokenId>(z % kVocabularySize);
}

std::string render_chat_prompt(const std::vector<ChatMessage>& messages) {
  std::string prompt;
  std::size_t size = 0;
  for (const auto& m : messages) size += m.role.size() + m.content.size() + 32;
  prompt.reserve(size);
  for (const auto& m : messages) {
    prompt += "<|start_header_id|>";
    prompt += m.role;
    prompt += "<|end_header_id|>\n\n";
    prompt += m.content;
    prompt += "<|eot_id|>";
  }
  prompt += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return prompt;
}

}  // namespace infergate::sim
