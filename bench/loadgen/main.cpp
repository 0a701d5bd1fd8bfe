// infergate-loadgen: sends an open-loop Poisson stream of OpenAI completions to one or more
// targets (round-robin) and reports throughput, TTFT and end-to-end latency percentiles, and
// with --include-usage the prompt tokens the servers report as cached. With --mix the requests
// name several models drawn by weight (for example one per criticality) and the report breaks
// down by model: statuses, TTFT, and how long a 429 took. With --concurrency a fixed number
// of clients send back to back instead (a closed loop, to measure capacity). With --warmup the
// first seconds' requests are left out of the report.
// Keep-alive connections are pooled per target; in the open loop a request never waits for
// another.
#include <algorithm>
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
#include <cmath>
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
  explicit InFlight(const net::any_io_executor& ex)
      : drained(ex, net::steady_timer::time_point::max()) {}
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
  std::vector<std::string> mix;  // model=weight ...
  int concurrency = 0;           // > 0: closed loop with this many clients
  double rate = 100;
  double duration_s = 10;
  double warmup_s = 0;  // the first seconds of --duration, left out of the report
  double stream_share = 0.5;
  std::string workload = "random";
  int prompt_tokens = 204;
  int output_tokens = 64;
  double output_spread = 0;  // output lengths uniform in output_tokens x [1 - spread, 1 + spread]
  int groups = 16;
  int prompts_per_group = 8;
  int system_tokens = 1024;
  int question_tokens = 64;
  bool distinct_questions = false;
  double group_skew = 0;
  bool include_usage = false;
  std::uint64_t seed = 1;
  std::uint64_t prefix_seed = 0;  // 0: --seed
  bool json = false;
};

// One request to send, and what the report needs to know about it.
struct Request {
  std::string body;
  bool stream = false;
  int output_tokens = 0;
  std::string cls;  // its model when a --mix is given, else empty
};

// Builds the requests of a run, in order, from the options and the seed.
class RequestMaker {
 public:
  explicit RequestMaker(const Options& o)
      : o_(o),
        gen_(o.seed),
        coin_(o.seed + 1),
        random_{o.prompt_tokens, o.output_tokens},
        shared_({o.groups, o.prompts_per_group, o.system_tokens, o.question_tokens,
                 o.distinct_questions, o.group_skew},
                o.prefix_seed != 0 ? o.prefix_seed : o.seed) {
    std::vector<double> weights;
    for (const auto& m : o.mix) {
      const auto eq = m.rfind('=');
      models_.push_back(m.substr(0, eq));
      weights.push_back(std::stod(m.substr(eq + 1)));
    }
    if (!weights.empty())
      pick_model_ = std::discrete_distribution<std::size_t>(weights.begin(), weights.end());
  }

  Request next() {
    sim::WorkloadItem item;
    if (o_.workload == "shared-prefix") {
      item.prompt = shared_.next(gen_.rng());
      item.output_tokens = o_.output_tokens;
    } else {
      item = gen_.random_prompt(random_);
    }
    Request r;
    r.stream = std::uniform_real_distribution<double>(0, 1)(coin_) < o_.stream_share;
    if (!models_.empty()) r.cls = models_[pick_model_(coin_)];
    if (o_.output_spread > 0) {
      const double spread = o_.output_spread * item.output_tokens;
      const double drawn =
          item.output_tokens + std::uniform_real_distribution<double>(-spread, spread)(coin_);
      item.output_tokens = std::max(1, static_cast<int>(std::lround(drawn)));
    }
    boost::json::object body{{"model", r.cls.empty() ? o_.model : r.cls},
                             {"prompt", item.prompt},
                             {"max_tokens", item.output_tokens},
                             {"ignore_eos", true},
                             {"stream", r.stream}};
    if (r.stream && o_.include_usage)
      body["stream_options"] = boost::json::object{{"include_usage", true}};
    r.body = boost::json::serialize(body);
    r.output_tokens = item.output_tokens;
    return r;
  }
  std::chrono::steady_clock::duration next_gap() {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        gen_.next_poisson_gap(o_.rate));
  }

 private:
  const Options& o_;
  sim::WorkloadGenerator gen_;
  std::mt19937_64 coin_;
  sim::RandomPromptsSpec random_;
  SharedPrefixPrompts shared_;
  std::vector<std::string> models_;
  std::discrete_distribution<std::size_t> pick_model_;
};

// The part of a run that is measured: requests sent before `warmup_end` are left out of the
// report, and its throughput counts completions between `warmup_end` and `end`.
struct Window {
  std::chrono::steady_clock::time_point warmup_end, end;
};

// Sends one request and records its outcome in `report` (`report.sent` is counted by the
// caller); a completion within the window counts in `totals.ok_in_window` whoever sent it.
net::awaitable<void> one_request(Target& target, Request request, LoadReport& report,
                                 const Window& window, LoadReport& totals) {
  const auto sent_at = std::chrono::steady_clock::now();
  ClassReport* cls = request.cls.empty() ? nullptr : &report.classes[request.cls];
  const auto failed_with = [&](int status) {
    ++report.errors_by_status[status];
    if (cls) ++cls->errors_by_status[status];
  };
  std::unique_ptr<beast::tcp_stream> conn;
  if (!target.idle.empty()) {
    conn = std::move(target.idle.back());
    target.idle.pop_back();
  } else {
    conn = std::make_unique<beast::tcp_stream>(co_await net::this_coro::executor);
    auto [ec] = co_await conn->async_connect(target.endpoint, kUseTuple);
    if (ec) {
      failed_with(0);
      co_return;
    }
    conn->socket().set_option(tcp::no_delay(true));
  }
  http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
  req.set(http::field::host, "loadgen");
  req.set(http::field::content_type, "application/json");
  req.body() = std::move(request.body);
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
    failed_with(0);
    co_return;
  }
  const int status = static_cast<int>(parser.get().result_int());
  const double e2e = std::chrono::duration<double>(done - sent_at).count();
  if (status != 200) {
    failed_with(status);
    if (status == 429) {
      report.time_to_429_s.push_back(e2e);
      if (cls) cls->time_to_429_s.push_back(e2e);
    }
  } else {
    ++report.ok;
    totals.ok_in_window += done >= window.warmup_end && done <= window.end;
    if (const auto usage = response_usage(parser.get().body(), request.stream)) {
      ++report.with_usage;
      report.prompt_tokens += usage->prompt_tokens;
      report.cached_tokens += usage->cached_tokens;
    }
    report.output_tokens += request.output_tokens;
    report.e2e_s.push_back(e2e);
    if (cls) {
      ++cls->ok;
      cls->e2e_s.push_back(e2e);
    }
    if (request.stream && first_byte) {
      const double ttft = std::chrono::duration<double>(*first_byte - sent_at).count();
      report.ttft_s.push_back(ttft);
      if (cls) cls->ttft_s.push_back(ttft);
    }
  }
  if (parser.get().keep_alive()) target.idle.push_back(std::move(conn));
}

// The open loop: Poisson arrivals for --duration, then the requests still in flight finish.
net::awaitable<void> open_loop(std::vector<Target>& targets, RequestMaker& maker,
                               const Window& window, LoadReport& report, LoadReport& warmup) {
  auto ex = co_await net::this_coro::executor;
  InFlight in_flight(ex);
  std::size_t rr = 0;
  net::steady_timer timer(ex);
  for (auto next = std::chrono::steady_clock::now(); next < window.end; next += maker.next_gap()) {
    timer.expires_at(next);
    co_await timer.async_wait(kUseTuple);
    Request request = maker.next();
    LoadReport& into = next < window.warmup_end ? warmup : report;
    ++into.sent;
    if (!request.cls.empty()) ++into.classes[request.cls].sent;
    ++in_flight.count;
    net::co_spawn(
        ex,
        [&, &target = targets[rr++ % targets.size()], &recorded = into,
         request = std::move(request)]() mutable -> net::awaitable<void> {
          struct Done {
            InFlight& f;
            ~Done() { f.finished(); }
          } done{in_flight};
          co_await one_request(target, std::move(request), recorded, window, report);
        },
        net::detached);
  }
  // Drain: wait for the requests still in flight.
  in_flight.arrivals_done = true;
  if (in_flight.count > 0) co_await in_flight.drained.async_wait(kUseTuple);
}

// The closed loop: --concurrency clients, each sending its next request when the last one is
// answered, until --duration has passed.
net::awaitable<void> closed_loop(const Options& o, std::vector<Target>& targets,
                                 RequestMaker& maker, const Window& window, LoadReport& report,
                                 LoadReport& warmup) {
  auto ex = co_await net::this_coro::executor;
  InFlight clients(ex);
  clients.count = o.concurrency;
  clients.arrivals_done = true;
  for (int c = 0; c < o.concurrency; ++c)
    net::co_spawn(
        ex,
        [&, &target =
                targets[static_cast<std::size_t>(c) % targets.size()]]() -> net::awaitable<void> {
          struct Done {
            InFlight& f;
            ~Done() { f.finished(); }
          } done{clients};
          for (auto now = std::chrono::steady_clock::now(); now < window.end;
               now = std::chrono::steady_clock::now()) {
            Request request = maker.next();
            LoadReport& into = now < window.warmup_end ? warmup : report;
            ++into.sent;
            if (!request.cls.empty()) ++into.classes[request.cls].sent;
            co_await one_request(target, std::move(request), into, window, report);
          }
        },
        net::detached);
  co_await clients.drained.async_wait(kUseTuple);
}

net::awaitable<void> run(const Options& o, std::vector<Target>& targets, LoadReport& report) {
  RequestMaker maker(o);
  LoadReport warmup;  // the warm-up's requests: sent, answered, not reported
  const auto start = std::chrono::steady_clock::now();
  const auto after = [&](double seconds) {
    return start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(seconds));
  };
  const Window window{after(o.warmup_s), after(o.duration_s)};
  report.window_s = o.duration_s - o.warmup_s;
  if (o.concurrency > 0)
    co_await closed_loop(o, targets, maker, window, report, warmup);
  else
    co_await open_loop(targets, maker, window, report, warmup);
  report.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& t : targets) t.idle.clear();
}

}  // namespace

static int run(int argc, char** argv) {
  Options o;
  po::options_description desc("infergate-loadgen options");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("target", po::value(&o.targets)->multitoken()->required(), "host:port ... (round-robin)")
    ("model", po::value(&o.model)->default_value(o.model), "model name in each request")
    ("mix", po::value(&o.mix)->multitoken(),
     "model=weight ...: each request names one of these models, drawn by weight; the report breaks down by model")
    ("concurrency", po::value(&o.concurrency)->default_value(0),
     "closed loop: this many clients send back to back for --duration (--rate is then ignored)")
    ("rate", po::value(&o.rate)->default_value(o.rate), "requests per second (Poisson)")
    ("duration", po::value(&o.duration_s)->default_value(o.duration_s), "seconds of arrivals")
    ("warmup", po::value(&o.warmup_s)->default_value(o.warmup_s),
     "the first seconds of --duration: their requests are sent but left out of the report, and the "
     "throughput within the window counts completions after them")
    ("stream-share", po::value(&o.stream_share)->default_value(o.stream_share), "share of streamed requests")
    ("workload", po::value(&o.workload)->default_value(o.workload), "random or shared-prefix")
    ("prompt-tokens", po::value(&o.prompt_tokens)->default_value(o.prompt_tokens), "random: prompt length")
    ("output-tokens", po::value(&o.output_tokens)->default_value(o.output_tokens), "output length (ignore_eos)")
    ("output-spread", po::value(&o.output_spread)->default_value(o.output_spread),
     "output lengths drawn uniformly within --output-tokens x [1 - spread, 1 + spread] (0: all equal; below 1)")
    ("groups", po::value(&o.groups)->default_value(o.groups), "shared-prefix: groups")
    ("prompts-per-group", po::value(&o.prompts_per_group)->default_value(o.prompts_per_group), "shared-prefix: questions per group")
    ("system-tokens", po::value(&o.system_tokens)->default_value(o.system_tokens), "shared-prefix: system prompt length")
    ("question-tokens", po::value(&o.question_tokens)->default_value(o.question_tokens), "shared-prefix: question length")
    ("distinct-questions", po::bool_switch(&o.distinct_questions),
     "shared-prefix: a fresh question per request (only the system prompt repeats)")
    ("group-skew", po::value(&o.group_skew)->default_value(o.group_skew),
     "shared-prefix: group k drawn with weight 1/(k+1)^skew (Zipf; 0: uniform)")
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
  if (o.warmup_s < 0 || o.warmup_s >= o.duration_s) {
    std::cerr << "infergate-loadgen: --warmup must be at least 0 and less than --duration\n";
    return 2;
  }
  for (const auto& m : o.mix) {
    const auto eq = m.rfind('=');
    double weight = -1;
    try {
      if (eq != std::string::npos && eq > 0) weight = std::stod(m.substr(eq + 1));
    } catch (const std::exception&) {
    }
    if (weight <= 0) {
      std::cerr << "infergate-loadgen: --mix wants model=weight with a positive weight, got " << m
                << "\n";
      return 2;
    }
  }
  if (o.output_spread < 0 || o.output_spread >= 1) {
    std::cerr << "infergate-loadgen: --output-spread is in [0, 1)\n";
    return 2;
  }
  if (o.concurrency < 0) {
    std::cerr << "infergate-loadgen: --concurrency must not be negative\n";
    return 2;
  }
  if (o.workload != "random" && o.workload != "shared-prefix") {
    std::cerr << "infergate-loadgen: --workload is random or shared-prefix\n";
    return 2;
  }
  if (o.workload == "shared-prefix" &&
      (o.groups < 1 || o.prompts_per_group < 1 || o.system_tokens < 0 || o.question_tokens < 0)) {
    std::cerr << "infergate-loadgen: shared-prefix needs --groups and --prompts-per-group >= 1, "
                 "token counts >= 0\n";
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

// Whatever escapes (a failed allocation, a library's exception) ends the process with a message
// and exit status 1, not std::terminate.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "infergate-loadgen: " << e.what() << "\n";
    return 1;
  }
}
