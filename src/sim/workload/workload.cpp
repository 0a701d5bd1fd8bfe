#include "sim/workload/workload.hpp"

#include <array>

namespace infergate::sim {

std::string random_text(std::mt19937_64& rng, int tokens) {
  static constexpr std::array<char, 27> kLetters = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
                                                    'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r',
                                                    's', 't', 'u', 'v', 'w', 'x', 'y', 'z', ' '};
  std::string text(static_cast<std::size_t>(tokens) * 4, ' ');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = kLetters[rng() % kLetters.size()];
  return text;
}

Duration WorkloadGenerator::next_poisson_gap(double rate) {
  std::exponential_distribution<double> gap(rate);
  return from_seconds(gap(rng_));
}

WorkloadItem WorkloadGenerator::random_prompt(const RandomPromptsSpec& spec) {
  WorkloadItem item;
  item.prompt = random_text(rng_, spec.prompt_tokens);
  item.output_tokens = spec.output_tokens;
  return item;
}

WorkloadItem WorkloadGenerator::shared_prefix(const SharedPrefixSpec& spec) {
  if (systems_.empty()) {
    for (int g = 0; g < spec.groups; ++g) systems_.push_back(random_text(rng_, spec.system_tokens));
    for (int q = 0; q < spec.groups * spec.prompts_per_group; ++q)
      questions_.push_back(random_text(rng_, spec.question_tokens));
  }
  const auto group = static_cast<int>(rng_() % static_cast<std::uint64_t>(spec.groups));
  const auto question =
      static_cast<int>(rng_() % static_cast<std::uint64_t>(spec.prompts_per_group));
  WorkloadItem item;
  item.group = group;
  item.prompt = systems_[static_cast<std::size_t>(group)] +
                questions_[static_cast<std::size_t>(group) *
                               static_cast<std::size_t>(spec.prompts_per_group) +
                           static_cast<std::size_t>(question)];
  item.output_tokens = spec.output_tokens;
  return item;
}

namespace {

template <typename Make>
std::vector<WorkloadItem> poisson(std::uint64_t seed, double rate, int count, Make make) {
  WorkloadGenerator gen(seed);
  std::vector<WorkloadItem> out;
  out.reserve(static_cast<std::size_t>(count));
  Duration t{0};
  for (int i = 0; i < count; ++i) {
    t += gen.next_poisson_gap(rate);
    WorkloadItem item = make(gen);
    item.arrival = t;
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

std::vector<WorkloadItem> poisson_random_prompts(std::uint64_t seed, double rate, int count,
                                                 const RandomPromptsSpec& spec) {
  return poisson(seed, rate, count, [&](WorkloadGenerator& g) { return g.random_prompt(spec); });
}

std::vector<WorkloadItem> poisson_shared_prefix(std::uint64_t seed, double rate, int count,
                                                const SharedPrefixSpec& spec) {
  return poisson(seed, rate, count, [&](WorkloadGenerator& g) { return g.shared_prefix(spec); });
}

}  // namespace infergate::sim
