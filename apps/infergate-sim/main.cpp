// infergate-sim: simulated vLLM (or SGLang / trtllm-serve) replicas that a client or gateway
// cannot tell apart from real ones, without a GPU. See docs/simulator.md.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "common/process_limits.hpp"
#include "sim/server/sim_server.hpp"

namespace po = boost::program_options;
using namespace infergate;
using namespace infergate::sim;

namespace {

int usage_error(const std::string& message) {
  std::cerr << "infergate-sim: " << message << "\n(see infergate-sim --help)\n";
  return 2;
}

}  // namespace

static int run(int argc, char** argv) {
  ServerOptions server;
  std::string profile_name = "h100-llama3.1-8b";
  std::string engine_name = "vllm";
  std::string metrics_fault = "ok";
  std::vector<std::string> served_names, lora_modules;
  int max_num_seqs = 0, max_batched = 0, block_size = 0, num_blocks = 0, max_loras = 1;
  int startup_delay_ms = 0, metrics_delay_ms = 2000;
  long keep_alive_ms = 60000;
  double slowdown = 1.0;
  bool no_prefix_caching = false;
  ReplicaOptions& ro = server.replica;

  po::options_description opts("infergate-sim options");
  // clang-format off
  opts.add_options()
    ("help,h", "show this help")
    ("host", po::value(&server.host)->default_value(server.host), "address to listen on")
    ("port", po::value(&server.port)->default_value(server.port),
     "port of the first replica; replica i listens on port+i (0: any free port each)")
    ("replicas", po::value(&server.replicas)->default_value(1), "replicas served by this process")
    ("pod-name", po::value(&server.pod_name_prefix)->default_value("sim"),
     "replica i is named <pod-name>-<i> (x-inference-pod header)")
    ("model", po::value(&ro.model)->default_value(ro.model), "base model name")
    ("served-model-name", po::value(&served_names)->multitoken(),
     "names the base model answers to (default: --model)")
    ("gpu-profile", po::value(&profile_name)->default_value(profile_name),
     "timing and memory profile: h100-llama3.1-8b, a100-llama3.1-8b, tiny")
    ("engine", po::value(&engine_name)->default_value(engine_name),
     "metric names to export: vllm, sglang or trtllm")
    ("max-num-seqs", po::value(&max_num_seqs), "sequence cap per step (default: profile)")
    ("max-num-batched-tokens", po::value(&max_batched), "token budget per step (default: profile)")
    ("block-size", po::value(&block_size), "tokens per KV block (default: profile, 16)")
    ("num-gpu-blocks", po::value(&num_blocks), "KV cache size in blocks (default: profile)")
    ("no-enable-prefix-caching", po::bool_switch(&no_prefix_caching), "disable prefix caching")
    ("enable-lora", po::bool_switch(&ro.enable_lora), "serve LoRA adapters")
    ("max-loras", po::value(&max_loras)->default_value(1), "distinct adapters per step")
    ("lora-modules", po::value(&lora_modules)->multitoken(), "adapters as name=path ...")
    ("max-model-len", po::value(&ro.max_model_len)->default_value(ro.max_model_len),
     "context length limit")
    ("output-len-mean", po::value(&ro.output_len_mean)->default_value(ro.output_len_mean),
     "mean natural output length (tokens) when a request does not ignore EOS")
    ("seed", po::value(&ro.seed)->default_value(0), "random seed")
    ("startup-delay-ms", po::value(&startup_delay_ms)->default_value(0),
     "time during which /health and requests answer 503")
    ("failure-rate", po::value(&ro.faults.failure_rate)->default_value(0),
     "share of generation requests that fail")
    ("failure-status", po::value(&ro.faults.failure_status)->default_value(500),
     "status of injected failures")
    ("metrics-fault", po::value(&metrics_fault)->default_value("ok"),
     "/metrics behaviour: ok, slow, garbled, missing")
    ("metrics-delay-ms", po::value(&metrics_delay_ms)->default_value(2000),
     "delay of a slow /metrics")
    ("abort-after-tokens", po::value(&ro.faults.abort_after_tokens)->default_value(0),
     "cut every stream after this many tokens (0: never)")
    ("slowdown", po::value(&slowdown)->default_value(1.0), "multiply every step time")
    ("max-body-bytes", po::value(&server.max_body_bytes)->default_value(server.max_body_bytes),
     "request body limit (413 above)")
    ("generation-log", po::value(&server.generation_log),
     "append one line per generation started (<x-request-id> <replica>) to this file")
    ("header-log", po::value(&server.header_log),
     "append one JSON line per request (but /metrics) with the headers it carried to this file")
    ("api-key", po::value(&server.api_key),
     "as vLLM's --api-key: /v1 routes answer 401 without 'Authorization: Bearer <key>'")
    ("tls-cert-file", po::value(&server.tls_cert_file), "serve TLS with this PEM certificate chain")
    ("tls-key-file", po::value(&server.tls_key_file), "PEM private key of --tls-cert-file")
    ("tls-client-ca-file", po::value(&server.tls_client_ca_file),
     "with TLS: require client certificates issued by this PEM CA")
    ("keep-alive-timeout-ms", po::value(&keep_alive_ms)->default_value(keep_alive_ms),
     "close a connection idle this long between requests (uvicorn, under vLLM and SGLang: 5000)");
  // clang-format on

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return usage_error(e.what());
  }
  if (vm.count("help")) {
    std::cout << opts
              << "\nRuntime control: POST /sim/faults with JSON keys metrics, "
                 "metrics_delay_ms,\nfailure_rate, failure_status, abort_after_tokens, "
                 "health, slowdown.\n";
    return 0;
  }

  auto profile = find_gpu_profile(profile_name);
  if (!profile) return usage_error("unknown --gpu-profile " + profile_name);
  if (max_num_seqs > 0) profile->max_num_seqs = max_num_seqs;
  if (max_batched > 0) profile->max_num_batched_tokens = max_batched;
  if (block_size > 0) profile->block_size = block_size;
  if (num_blocks > 0) profile->num_gpu_blocks = num_blocks;
  ro.engine = EngineConfig{*profile, !no_prefix_caching, max_loras};
  auto flavor = parse_metrics_flavor(engine_name);
  if (!flavor) return usage_error("unknown --engine " + engine_name);
  ro.flavor = *flavor;
  ro.served_model_names = served_names;
  for (const auto& m : lora_modules) {
    const auto eq = m.find('=');
    if (eq == std::string::npos || eq == 0) return usage_error("--lora-modules wants name=path");
    ro.lora_modules[m.substr(0, eq)] = m.substr(eq + 1);
  }
  if (!ro.lora_modules.empty() && !ro.enable_lora)
    return usage_error("--lora-modules needs --enable-lora");
  if (metrics_fault == "ok")
    ro.faults.metrics = FaultSettings::Metrics::kOk;
  else if (metrics_fault == "slow")
    ro.faults.metrics = FaultSettings::Metrics::kSlow;
  else if (metrics_fault == "garbled")
    ro.faults.metrics = FaultSettings::Metrics::kGarbled;
  else if (metrics_fault == "missing")
    ro.faults.metrics = FaultSettings::Metrics::kMissing;
  else
    return usage_error("unknown --metrics-fault " + metrics_fault);
  ro.faults.metrics_delay = std::chrono::milliseconds(metrics_delay_ms);
  ro.startup_delay = std::chrono::milliseconds(startup_delay_ms);
  if (keep_alive_ms <= 0) return usage_error("--keep-alive-timeout-ms must be positive");
  if (server.tls_cert_file.empty() != server.tls_key_file.empty())
    return usage_error("--tls-cert-file and --tls-key-file go together");
  server.idle_timeout = std::chrono::milliseconds(keep_alive_ms);
  if (server.replicas < 1 || server.replicas > 1024)
    return usage_error("--replicas must be 1..1024");

  raise_open_file_limit();
  boost::asio::io_context io;
  SimServer sim(io, server);
  try {
    sim.start();
  } catch (const std::exception& e) {
    std::cerr << "infergate-sim: cannot listen: " << e.what() << "\n";
    return 1;
  }
  for (std::size_t i = 0; i < static_cast<std::size_t>(server.replicas); ++i)
    sim.replica(i).engine().set_slowdown(slowdown);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) sim.stop();
  });

  const auto listening = sim.listening();
  boost::json::array replicas;
  std::printf("infergate-sim: %zu replica(s) of %s, profile %s, %s metrics\n", listening.size(),
              ro.model.c_str(), profile->name.c_str(), engine_name.c_str());
  for (const auto& r : listening) {
    std::printf("  %s  http://%s:%u\n", r.name.c_str(), r.host.c_str(), r.port);
    replicas.push_back(boost::json::object{{"name", r.name}, {"host", r.host}, {"port", r.port}});
  }
  const auto& first = listening.front();
  std::printf(
      "try:\n  curl -s http://%s:%u/v1/completions -H 'content-type: application/json' "
      "-d '{\"model\": \"%s\", \"prompt\": \"Hello\", \"max_tokens\": 16}'\n",
      first.host.c_str(), first.port, (served_names.empty() ? ro.model : served_names[0]).c_str());
  std::printf("READY %s\n",
              boost::json::serialize(boost::json::object{{"replicas", replicas}}).c_str());
  std::fflush(stdout);
  io.run();
  return 0;
}

// Whatever escapes (a failed allocation, a library's exception) ends the process with a message
// and exit status 1, not std::terminate.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "infergate-sim: " << e.what() << "\n";
    return 1;
  }
}
