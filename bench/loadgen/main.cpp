// infergate-loadgen: sends an open-loop Poisson stream of OpenAI completions to one or more
// targets (round-robin) and reports throughput, TTFT and end-to-end latency percentiles, and
// with --include-usage the prompt tokens the servers report as cached.
// Keep-alive connections are pooled per target; a request never waits for another.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <iostream>
#include <memory>
#include <random>

#include "load_report.hpp"
#include "response_usage.hpp"
#include "shared_prefix_prompts.hpp"
#include "sim/workload/workload.hpp"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace po = boost::program_options;
using tcp = net::ip::tcp;
using namespace infergate;
using namespace infergate::bench;

namespace {

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);

struct Target {
  tcp::endpoint endpoint;
  std::vector<std::unique_ptr<beast::tcp_stream>> idle;
};

// Requests in flight, and a timer that the last one to finish cancels to end the run.
struct InFlight {
  explicit InFlight(const net::any_io_executor& ex) : drained(ex, net::steady_timer::time_point::max()) {}
  int count = 0;
  bool arrivals_done = false;
  net::steady_timer drained;
  void finished() {
    if (--count == 0 && arrivals_done) drained.cancel();
  }
};

struct Options {
  std::vector<std::string> targets;
  std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  double rate = 100;
  double duration_s = 10;
  double stream_share = 0.5;
  std::string workload = "random";
  int prompt_tokens = 204;
  int output_tokens = 64;
  int groups = 16;
  int prompts_per_group = 8;
  int system_tokens = 1024;
  int question_tokens = 64;
  bool distinct_questions = false;
  bool include_usage = false;
  std::uint64_t seed = 1;
  std::uint64_t prefix_seed = 0;  // 0: --seed
  bool json = false;
};

net::awaitable<void> one_request(Target& target, std::string body, bool stream,
                                 std::chrono::steady_clock::time_point start_of_run,
                                 LoadReport& report, int output_tokens, InFlight& in_flight) {
  const auto sent_at = std::chrono::steady_clock::now();
  (void)start_of_run;
  struct Done {
    InFlight& f;
    ~Done() { f.finished(); }
  } done_guard{in_flight};
  std::unique_ptr<beast::tcp_stream> conn;
  if (!target.idle.empty()) {
    conn = std::move(target.idle.back());
    target.idle.pop_back();
  } else {
    conn = std::make_unique<beast::tcp_stream>(co_await net::this_coro::executor);
    auto [ec] = co_await conn->async_connect(target.endpoint, kUseTuple);
    if (ec) {
      ++report.errors_by_status[0];
      co_return;
    }
    conn->socket().set_option(tcp::no_delay(true));
  }
  http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
  req.set(http::field::host, "loadgen");
  req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  conn->expires_after(std::chrono::minutes(5));
  auto [wec, wn] = co_await http::async_write(*conn, req, kUseTuple);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  bool failed = static_cast<bool>(wec);
  if (!failed) {
    auto [hec, hn] = co_await http::async_read_header(*conn, buffer, parser, kUseTuple);
    failed = static_cast<bool>(hec);
  }
  std::optional<std::chrono::steady_clock::time_point> first_byte;
  while (!failed && !parser.is_done()) {
    auto [ec, n] = co_await http::async_read_some(*conn, buffer, parser, kUseTuple);
    if (ec) failed = true;
    if (!first_byte && !parser.get().body().empty()) first_byte = std::chrono::steady_clock::now();
  }
  const auto done = std::chrono::steady_clock::now();
  if (failed) {
    ++report.errors_by_status[0];
    co_return;
  }
  const int status = static_cast<int>(parser.get().result_int());
  if (status != 200) {
    ++report.errors_by_status[status];
  } else {
    ++report.ok;
    if (const auto usage = response_usage(parser.get().body(), stream)) {
      ++report.with_usage;
      report.prompt_tokens += usage->prompt_tokens;
      report.cached_tokens += usage->cached_tokens;
    }
    report.output_tokens += output_tokens;
    report.e2e_s.push_back(std::chrono::duration<double>(done - sent_at).count());
    if (stream && first_byte)
      report.ttft_s.push_back(std::chrono::duration<double>(*first_byte - sent_at).count());
  }
  if (parser.get().keep_alive()) target.idle.push_back(std::move(conn));
}

net::awaitable<void> run(const Options& o, std::vector<Target>& targets, LoadReport& report) {
  auto ex = co_await net::this_coro::executor;
  sim::WorkloadGenerator gen(o.seed);
  std::mt19937_64 coin(o.seed + 1);
  const sim::RandomPromptsSpec random{o.prompt_tokens, o.output_tokens};
  SharedPrefixPrompts shared({o.groups, o.prompts_per_group, o.system_tokens, o.question_tokens,
                              o.distinct_questions},
                             o.prefix_seed != 0 ? o.prefix_seed : o.seed);
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(o.duration_s));
  auto next = start;
  InFlight in_flight(ex);
  std::size_t rr = 0;
  net::steady_timer timer(ex);
  while (next < end) {
    timer.expires_at(next);
    co_await timer.async_wait(kUseTuple);
    sim::WorkloadItem item;
    if (o.workload == "shared-prefix") {
      item.prompt = shared.next(gen.rng());
      item.output_tokens = o.output_tokens;
    } else {
      item = gen.random_prompt(random);
    }
    const bool stream = std::uniform_real_distribution<double>(0, 1)(coin) < o.stream_share;
    boost::json::object body{{"model", o.model}, {"prompt", item.prompt},
                             {"max_tokens", item.output_tokens}, {"ignore_eos", true},
                             {"stream", stream}};
    if (stream && o.include_usage) body["stream_options"] = boost::json::object{{"include_usage", true}};
    ++report.sent;
    ++in_flight.count;
    net::co_spawn(ex,
                  one_request(targets[rr++ % targets.size()], boost::json::serialize(body), stream,
                              start, report, item.output_tokens, in_flight),
                  net::detached);
    next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        gen.next_poisson_gap(o.rate));
  }
  // Drain: wait for the requests still in flight.
  in_flight.arrivals_done = true;
  if (in_flight.count > 0) co_await in_flight.drained.async_wait(kUseTuple);
  report.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& t : targets) t.idle.clear();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  po::options_description desc("infergate-loadgen options");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("target", po::value(&o.targets)->multitoken()->required(), "host:port ... (round-robin)")
    ("model", po::value(&o.model)->default_value(o.model), "model name in each request")
    ("rate", po::value(&o.rate)->default_value(o.rate), "requests per second (Poisson)")
    ("duration", po::value(&o.duration_s)->default_value(o.duration_s), "seconds of arrivals")
    ("stream-share", po::value(&o.stream_share)->default_value(o.stream_share), "share of streamed requests")
    ("workload", po::value(&o.workload)->default_value(o.workload), "random or shared-prefix")
    ("prompt-tokens", po::value(&o.prompt_tokens)->default_value(o.prompt_tokens), "random: prompt length")
    ("output-tokens", po::value(&o.output_tokens)->default_value(o.output_tokens), "output length (ignore_eos)")
    ("groups", po::value(&o.groups)->default_value(o.groups), "shared-prefix: groups")
    ("prompts-per-group", po::value(&o.prompts_per_group)->default_value(o.prompts_per_group), "shared-prefix: questions per group")
    ("system-tokens", po::value(&o.system_tokens)->default_value(o.system_tokens), "shared-prefix: system prompt length")
    ("question-tokens", po::value(&o.question_tokens)->default_value(o.question_tokens), "shared-prefix: question length")
    ("distinct-questions", po::bool_switch(&o.distinct_questions),
     "shared-prefix: a fresh question per request (only the system prompt repeats)")
    ("include-usage", po::bool_switch(&o.include_usage),
     "ask streams for their usage (stream_options.include_usage) and report cached prompt tokens")
    ("seed", po::value(&o.seed)->default_value(o.seed), "random seed of the requests")
    ("prefix-seed", po::value(&o.prefix_seed)->default_value(o.prefix_seed),
     "shared-prefix: seed of the system prompts (0: --seed); runs with the same prefix seed share them")
    ("json", po::bool_switch(&o.json), "print the report as one JSON line");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc;
      return 0;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "infergate-loadgen: " << e.what() << "\n";
    return 2;
  }
  if (o.rate <= 0 || o.duration_s <= 0) {
    std::cerr << "infergate-loadgen: --rate and --duration must be positive\n";
    return 2;
  }
  if (o.workload != "random" && o.workload != "shared-prefix") {
    std::cerr << "infergate-loadgen: --workload is random or shared-prefix\n";
    return 2;
  }
  if (o.workload == "shared-prefix" && (o.groups < 1 || o.prompts_per_group < 1 || o.system_tokens < 0 ||
                                        o.question_tokens < 0)) {
    std::cerr << "infergate-loadgen: shared-prefix needs --groups and --prompts-per-group >= 1, token counts >= 0\n";
    return 2;
  }
  net::io_context io;
  std::vector<Target> targets;
  for (const auto& t : o.targets) {
    const auto colon = t.rfind(':');
    if (colon == std::string::npos) {
      std::cerr << "infergate-loadgen: --target wants host:port, got " << t << "\n";
      return 2;
    }
    tcp::resolver resolver(io);
    auto results = resolver.resolve(t.substr(0, colon), t.substr(colon + 1));
    targets.push_back(Target{results.begin()->endpoint(), {}});
  }
  LoadReport report;
  net::co_spawn(io, run(o, targets, report), net::detached);
  io.run();
  std::cout << (o.json ? report.to_json() + "\n" : report.to_text());
  return report.ok == report.sent ? 0 : 1;
}
