// Saturation rules and the flow controller's decisions: admit, queue, shed, dispatch by events,
// TTL expiry, cancellation. Time comes from a manual clock; waits run on an io_context.
#include "gateway/flowcontrol/flow_controller.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "../../support/prometheus_text.hpp"
#include "../scheduling/pool_fixture.hpp"
#include "metrics/prometheus_writer.hpp"

namespace infergate::gateway::flowcontrol {
namespace {
namespace net = boost::asio;
using infergate::testing::sample_value;
using infergate::testing::sum_of_samples;
using testing::LoadSpec;
using testing::TestPool;

TEST(Saturation, UpstreamUtilisationRuleStalenessAndConcurrency) {
  TestPool tp(2);
  SaturationOptions o;
  tp.set(0, {.waiting = 5, .kv = 0.1});  // 1.0 by the queue
  tp.set(1, {.waiting = 0, .kv = 0.4});  // 0.5 by the KV cache
  EXPECT_DOUBLE_EQ(measure_saturation(tp.pool, tp.clock.now(), o).utilisation, 0.75);
  tp.clock.advance(std::chrono::milliseconds(250));
  tp.set(1, {.waiting = 0, .kv = 0.4});  // ep0 is now stale: counts as 1
  EXPECT_DOUBLE_EQ(measure_saturation(tp.pool, tp.clock.now(), o).utilisation, 0.75);
  tp.clock.advance(std::chrono::milliseconds(250));
  EXPECT_DOUBLE_EQ(measure_saturation(tp.pool, tp.clock.now(), o).utilisation, 1.0);
  TestPool none(0);
  EXPECT_DOUBLE_EQ(measure_saturation(none.pool, none.clock.now(), o).value(), 1.0);

  TestPool c(2);
  c.set(0, {});
  c.set(1, {});
  SaturationOptions conc;
  conc.max_in_flight_per_endpoint = 4;
  c.pool.endpoints[0]->in_flight = 4;
  c.pool.endpoints[1]->in_flight = 2;
  const auto s = measure_saturation(c.pool, c.clock.now(), conc);
  EXPECT_DOUBLE_EQ(s.concurrency, 0.75);
  EXPECT_FALSE(s.idle_endpoint);
  // Requests admitted since the view was published count as waiting: 6 over 2 endpoints x 5.
  EXPECT_DOUBLE_EQ(s.utilisation, 0.6);
}

TEST(Saturation, PickerConfigThresholdsReplaceTheFlags) {
  SaturationOptions flags;
  flags.queue_depth = 5;
  flags.kv_threshold = 0.8;
  flags.max_in_flight_per_endpoint = 7;
  config::EndpointPickerConfig picker;
  EXPECT_EQ(with_saturation_detector(flags, picker).queue_depth, 5);  // nothing set: the flags stay
  picker.queue_depth_threshold = 10;
  picker.kv_cache_util_threshold = 0.95;
  picker.metrics_staleness = std::chrono::milliseconds(150);
  const SaturationOptions o = with_saturation_detector(flags, picker);
  EXPECT_EQ(o.queue_depth, 10);
  EXPECT_EQ(o.kv_threshold, 0.95);
  EXPECT_EQ(o.staleness, std::chrono::milliseconds(150));
  EXPECT_EQ(o.max_in_flight_per_endpoint, 7);
  // With the larger queue depth, 5 waiting requests are half of saturation, not all of it.
  TestPool pool(1);
  LoadSpec load;
  load.waiting = 5;
  pool.set(0, load);
  EXPECT_DOUBLE_EQ(measure_saturation(pool.pool, pool.clock.now(), flags).utilisation, 1.0);
  EXPECT_DOUBLE_EQ(measure_saturation(pool.pool, pool.clock.now(), o).utilisation, 0.5);
}

TEST(Saturation, IdleEndpointsAreTakenByPendingDispatches) {
  TestPool tp(2);
  tp.set(0, {.waiting = 50});
  tp.set(1, {.waiting = 50});
  tp.pool.endpoints[0]->in_flight = 3;
  SaturationOptions o;
  EXPECT_TRUE(measure_saturation(tp.pool, tp.clock.now(), o, 0).idle_endpoint);
  EXPECT_FALSE(measure_saturation(tp.pool, tp.clock.now(), o, 1).idle_endpoint);
}

// Runs admissions on an io_context; a request's result appears once its coroutine ends.
struct Harness {
  explicit Harness(std::size_t endpoints, FlowControlOptions o = {}) : tp(endpoints) {
    pool = std::shared_ptr<PoolState>(&tp.pool, [](PoolState*) {});
    flow = std::make_shared<FlowController>("default/p", tp.clock, o, timings);
    flow->attach(pool);
  }
  std::shared_ptr<std::optional<Admission>> admit(std::int64_t priority,
                                                  std::string flow_id = "default-flow",
                                                  net::cancellation_signal* cancel = nullptr) {
    return admit(AdmitRequest{priority, std::move(flow_id), 100}, cancel);
  }
  std::shared_ptr<std::optional<Admission>> admit(AdmitRequest request,
                                                  net::cancellation_signal* cancel = nullptr) {
    auto result = std::make_shared<std::optional<Admission>>();
    auto op = [](std::shared_ptr<FlowController> f, AdmitRequest r,
                 std::shared_ptr<std::optional<Admission>> out) -> net::awaitable<void> {
      *out = co_await f->admit(std::move(r));
    }(flow, std::move(request), result);
    if (cancel)
      net::co_spawn(io, std::move(op),
                    net::bind_cancellation_slot(cancel->slot(), [](const std::exception_ptr&) {}));
    else
      net::co_spawn(io, std::move(op), [](const std::exception_ptr& e) {
        if (e) std::rethrow_exception(e);
      });
    run();
    return result;
  }
  // Every endpoint busy and queueing: saturation 2.
  void saturate() {
    for (std::size_t i = 0; i < tp.pool.endpoints.size(); ++i) {
      tp.set(i, {.waiting = 10});
      tp.pool.endpoints[i]->in_flight = 1;
    }
    tp.pool.publish_view();
  }
  void free_capacity() {
    for (std::size_t i = 0; i < tp.pool.endpoints.size(); ++i) tp.set(i, {.waiting = 0});
    flow->on_capacity_changed();
    run();
  }
  // Runs what is ready (an io_context that ran out of work must be restarted first).
  void run() {
    io.restart();
    io.poll();
  }
  // The Prometheus lines of `family` under `name`.
  std::string page(FlowController::Family family, std::string_view name = "f") const {
    std::string out;
    metrics::PrometheusWriter w(out);
    flow->render(w, family, name);
    return out;
  }
  TestPool tp;
  std::shared_ptr<PoolState> pool;
  std::shared_ptr<FlowTimings> timings = std::make_shared<FlowTimings>();
  std::shared_ptr<FlowController> flow;
  net::io_context io;
};

TEST(FlowController, BelowSaturationEverythingGoesAtOnce) {
  Harness h(2);
  for (std::size_t i = 0; i < 2; ++i) h.tp.set(i, {.waiting = 1});
  for (int p : {-1, 0, 1}) {
    auto r = h.admit(p);
    ASSERT_TRUE(*r);
    EXPECT_TRUE((*r)->admitted());
  }
}

TEST(FlowController, SaturatedShedsSheddableAndStandardAndQueuesCritical) {
  Harness h(2);
  h.saturate();
  auto sheddable = h.admit(-1), standard = h.admit(0), critical = h.admit(1);
  ASSERT_TRUE(*sheddable && *standard);
  EXPECT_EQ((*sheddable)->refusal->status, 429);
  EXPECT_EQ((*standard)->refusal->status, 429);
  EXPECT_EQ((*standard)->refusal->retry_after_seconds, 1) << "a shed request says when to retry";
  EXPECT_FALSE(*critical) << "Critical waits";
  EXPECT_EQ(h.flow->queued(), 1u);
  h.flow->on_capacity_changed();  // nothing changed: still waiting
  h.run();
  EXPECT_FALSE(*critical);
  h.free_capacity();
  ASSERT_TRUE(*critical);
  EXPECT_TRUE((*critical)->admitted());
  EXPECT_EQ(h.flow->queued(), 0u);
}

TEST(FlowController, OnlyAQueuedRequestTellsItsFrontEndToWatchTheClient) {
  Harness h(1);
  int told = 0;
  const auto request = [&](std::int64_t priority) {
    AdmitRequest r{priority, "default-flow", 100};
    r.on_queued = [](void* count) { ++*static_cast<int*>(count); };
    r.on_queued_context = &told;
    return r;
  };
  EXPECT_TRUE((*h.admit(request(1)))->admitted());  // at once: nothing to watch for
  EXPECT_EQ(told, 0);
  h.saturate();
  EXPECT_EQ((*h.admit(request(0)))->refusal->status, 429);  // shed at once
  EXPECT_EQ(told, 0);
  auto queued = h.admit(request(1));
  EXPECT_FALSE(*queued);
  EXPECT_EQ(told, 1);
  h.free_capacity();
  ASSERT_TRUE(*queued);
  EXPECT_TRUE((*queued)->admitted());
  EXPECT_EQ(told, 1);
}

TEST(FlowController, SheddableIsShedAtALowerSaturationThanStandard) {
  Harness h(1);
  h.tp.set(0, {.waiting = 4.5});  // saturation 0.9
  h.tp.pool.endpoints[0]->in_flight = 1;
  h.tp.pool.publish_view();
  EXPECT_EQ((*h.admit(-1))->refusal->status, 429);
  EXPECT_TRUE((*h.admit(0))->admitted());
}

TEST(FlowController, AnIdleEndpointAdmitsWhateverTheMetricsSay) {
  Harness h(2);
  h.saturate();
  h.tp.pool.endpoints[1]->in_flight = 0;
  EXPECT_TRUE((*h.admit(0))->admitted());
}

TEST(FlowController, QueuedRequestsExpireAfterTheirTtl) {
  FlowControlOptions o;
  o.queue_ttl = std::chrono::milliseconds(1);
  Harness h(1, o);
  h.saturate();
  auto r = h.admit(1);
  EXPECT_FALSE(*r);
  h.io.restart();
  h.io.run_for(std::chrono::seconds(5));  // until the deadline's timer fires
  ASSERT_TRUE(*r);
  EXPECT_EQ((*r)->refusal->status, 503);
  EXPECT_EQ((*r)->refusal->message, "request timed out in queue");
  EXPECT_EQ(h.flow->queued(), 0u);
}

TEST(FlowController, AnAllowanceLetsStandardWaitBeforeItIsShed) {
  FlowControlOptions o;
  o.standard_allowance = std::chrono::seconds(30);
  Harness h(1, o);
  h.saturate();
  auto waits = h.admit(0);
  EXPECT_FALSE(*waits);
  h.free_capacity();
  ASSERT_TRUE(*waits);
  EXPECT_TRUE((*waits)->admitted());

  FlowControlOptions brief;
  brief.standard_allowance = std::chrono::milliseconds(1);
  Harness h2(1, brief);
  h2.saturate();
  auto shed = h2.admit(0);
  h2.io.restart();
  h2.io.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(*shed);
  EXPECT_EQ((*shed)->refusal->status, 429);
}

TEST(FlowController, CriticalIsShedOnlyWhenItsBandIsFull) {
  FlowControlOptions o;
  o.band_limits.max_requests = 2;
  Harness h(1, o);
  h.saturate();
  auto a = h.admit(1), b = h.admit(1), c = h.admit(1);
  EXPECT_FALSE(*a);
  EXPECT_FALSE(*b);
  ASSERT_TRUE(*c);
  EXPECT_EQ((*c)->refusal->status, 429);
}

TEST(FlowController, AClientThatLeavesWhileQueuedLeavesTheQueue) {
  Harness h(1);
  h.saturate();
  net::cancellation_signal cancel;
  auto r = h.admit(1, "default-flow", &cancel);
  EXPECT_EQ(h.flow->queued(), 1u);
  cancel.emit(net::cancellation_type::terminal);
  h.run();
  ASSERT_TRUE(*r);
  EXPECT_FALSE((*r)->admitted());
  EXPECT_EQ(h.flow->queued(), 0u);
}

TEST(FlowController, DispatchFollowsBandsThenFlowsInTurn) {
  FlowControlOptions o;
  o.saturation.scraping = false;
  o.saturation.max_in_flight_per_endpoint = 1;  // one endpoint, one request at a time
  Harness h(1, o);
  h.tp.pool.endpoints[0]->in_flight = 1;
  std::vector<std::pair<std::string, std::shared_ptr<std::optional<Admission>>>> queued;
  for (auto [name, p, flow] : std::vector<std::tuple<std::string, int, std::string>>{
           {"a1", 1, "a"}, {"a2", 1, "a"}, {"b1", 1, "b"}, {"top", 2, "z"}})
    queued.emplace_back(name, h.admit(p, flow));
  std::vector<std::string> order;
  for (int step = 0; step < 4; ++step) {
    h.tp.pool.endpoints[0]->in_flight = 0;  // the running request finished
    h.flow->on_capacity_changed();
    h.run();
    for (auto& [name, r] : queued)
      if (*r && std::find(order.begin(), order.end(), name) == order.end()) {
        EXPECT_TRUE((*r)->admitted());
        order.push_back(name);
      }
    h.tp.pool.endpoints[0]->in_flight = 1;  // the dispatched one runs
  }
  EXPECT_EQ(order, (std::vector<std::string>{"top", "a1", "b1", "a2"}));
}

TEST(FlowController, APoolWithNoEndpointInPickingLetsRequestsThroughToTheir503) {
  Harness h(1);
  h.saturate();
  h.tp.pool.endpoints[0]->scrape_healthy = false;
  h.tp.pool.publish_view();
  EXPECT_TRUE((*h.admit(0))->admitted());
  EXPECT_TRUE((*h.admit(1))->admitted());
}

// Requests from several worker threads queue in one pool; capacity comes back from another
// thread, and each is woken on its own thread (for ThreadSanitizer: CI runs this in a TSan
// build).
TEST(FlowController, QueuedRequestsOfSeveralThreadsAreDispatchedOnTheirOwnThreads) {
  Harness h(2);
  h.saturate();
  constexpr int kThreads = 3, kPerThread = 40;
  std::atomic<int> admitted{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t)
    workers.emplace_back([&h, &admitted, t] {
      net::io_context io;
      for (int i = 0; i < kPerThread; ++i)
        net::co_spawn(
            io,
            [&h, &admitted, t]() -> net::awaitable<void> {
              // A named request: GCC 12 destroys a temporary in a co_await expression twice.
              AdmitRequest request{1, "flow-" + std::to_string(t), 100};
              const Admission a = co_await h.flow->admit(std::move(request));
              if (!a.admitted()) co_return;
              ++admitted;
              // The request ran and finished on this thread: that makes room for the next.
              const auto executor = co_await net::this_coro::executor;
              co_await net::post(executor, net::use_awaitable);
              h.flow->on_capacity_changed();
            },
            [](const std::exception_ptr& e) {
              if (e) std::rethrow_exception(e);
            });
      io.run_for(std::chrono::seconds(20));  // returns once every admission has ended
    });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (h.flow->queued() < std::size_t{kThreads * kPerThread} &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  ASSERT_EQ(h.flow->queued(), std::size_t{kThreads * kPerThread});
  for (std::size_t i = 0; i < 2; ++i) {
    h.tp.set(i, {.waiting = 0});
    h.tp.pool.endpoints[i]->in_flight = 0;
  }
  h.flow->on_capacity_changed();
  for (auto& t : workers) t.join();
  EXPECT_EQ(admitted.load(), kThreads * kPerThread);
  EXPECT_EQ(h.flow->queued(), 0u);
}

TEST(FlowController, DisabledAdmitsEverything) {
  FlowControlOptions o;
  o.enabled = false;
  Harness h(1, o);
  h.saturate();
  EXPECT_TRUE((*h.admit(-1))->admitted());
}

// Upstream's families: the queue by fairness id, priority and models; each request's time and
// outcome, under upstream's outcome names; the enqueue and dispatch-cycle timings.
TEST(FlowControllerMetrics, QueueAndOutcomesCarryUpstreamLabels) {
  FlowControlOptions o;
  o.queue_ttl = std::chrono::seconds(10);
  Harness h(2, o);
  // The model names are literals: an AdmitRequest views them.
  const auto request = [](std::int64_t priority, std::string flow, std::string_view model,
                          std::string_view target) {
    return AdmitRequest{priority, std::move(flow), 100, model, target};
  };
  EXPECT_TRUE((*h.admit(request(1, "a", "m", "m-lora")))->admitted());  // below saturation: at once
  h.saturate();
  EXPECT_EQ((*h.admit(request(0, "a", "m", "m-lora")))->refusal->status, 429);
  auto a1 = h.admit(request(1, "a", "m", "m-lora")), a2 = h.admit(request(1, "a", "m", "m-lora"));
  auto b = h.admit(request(1, "b", "n", "n-lora"));
  net::cancellation_signal cancel;
  auto leaves = h.admit(request(2, "a", "m", "m-lora"), &cancel);
  EXPECT_EQ(h.flow->queued(), 4u);

  const std::string a_labels =
      R"(f{fairness_id="a",inference_pool="default/p",model_name="m",priority="1",)"
      R"(target_model_name="m-lora"})";
  const std::string size = h.page(FlowController::Family::kQueueSize);
  EXPECT_EQ(sample_value(size, a_labels), 2) << size;
  EXPECT_EQ(
      sample_value(
          size,
          R"(f{fairness_id="b",inference_pool="default/p",model_name="n",priority="1",target_model_name="n-lora"})"),
      1)
      << size;
  EXPECT_EQ(sum_of_samples(size, "f"), 4);
  EXPECT_EQ(sample_value(h.page(FlowController::Family::kQueueBytes), a_labels), 200);

  cancel.emit(net::cancellation_type::terminal);
  h.run();
  h.tp.clock.advance(std::chrono::milliseconds(40));
  h.free_capacity();  // a1, a2 and b go, having waited 40 ms
  ASSERT_TRUE(*a1 && *a2 && *b && *leaves);
  EXPECT_EQ(sum_of_samples(h.page(FlowController::Family::kQueueSize), "f"), 0);

  const std::string requests = h.page(FlowController::Family::kRequests);
  EXPECT_EQ(
      sample_value(requests, R"(f{inference_pool="default/p",outcome="Dispatched",priority="1"})"),
      4)
      << requests;
  EXPECT_EQ(
      sample_value(requests,
                   R"(f{inference_pool="default/p",outcome="RejectedCapacity",priority="0"})"),
      1);
  EXPECT_EQ(sample_value(
                requests,
                R"(f{inference_pool="default/p",outcome="EvictedContextCancelled",priority="2"})"),
            1);

  const std::string waits = h.page(FlowController::Family::kQueueDuration);
  const std::string dispatched_a =
      R"(fairness_id="a",inference_pool="default/p",model_name="m",outcome="Dispatched",)"
      R"(priority="1",target_model_name="m-lora")";
  EXPECT_EQ(sample_value(waits, "f_count{" + dispatched_a + "}"), 3) << waits;
  // One at once (0 s), two after 40 ms: upstream's buckets 0.025 and 0.05 tell them apart.
  EXPECT_EQ(sample_value(waits, "f_bucket{" + dispatched_a + R"(,le="0.0001"})"), 1);
  EXPECT_EQ(sample_value(waits, "f_bucket{" + dispatched_a + R"(,le="0.025"})"), 1);
  EXPECT_EQ(sample_value(waits, "f_bucket{" + dispatched_a + R"(,le="0.05"})"), 3);
  EXPECT_DOUBLE_EQ(sample_value(waits, "f_sum{" + dispatched_a + "}"), 0.08);
  EXPECT_EQ(sum_of_samples(waits, "f_count"), 6);

  // The enqueue's outcomes as upstream's: let through, shed, left queued.
  std::string timings;
  metrics::PrometheusWriter w(timings);
  h.timings->render_enqueue(w, "e");
  EXPECT_EQ(sample_value(timings, R"(e_count{fairness_id="a",outcome="Dispatched",priority="1"})"),
            1)
      << timings;
  EXPECT_EQ(
      sample_value(timings, R"(e_count{fairness_id="a",outcome="RejectedCapacity",priority="0"})"),
      1);
  EXPECT_EQ(
      sample_value(timings, R"(e_count{fairness_id="a",outcome="NotYetFinalized",priority="1"})"),
      2);
  EXPECT_NE(
      timings.find(R"(e_bucket{fairness_id="b",outcome="NotYetFinalized",priority="1",le="0.1"})"),
      std::string::npos);
  std::string cycles;
  metrics::PrometheusWriter wc(cycles);
  h.timings->render_dispatch_cycles(wc, "d");
  EXPECT_GE(sample_value(cycles, "d_count "), 1) << cycles;  // at least the one that freed them
}

TEST(FlowControllerMetrics, ExpiryIsEvictedTtlAndStaleEndpointsAreCounted) {
  FlowControlOptions o;
  o.queue_ttl = std::chrono::milliseconds(1);
  Harness h(2, o);
  h.saturate();
  auto r = h.admit(1);
  h.io.restart();
  h.io.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(*r);
  EXPECT_EQ(sample_value(h.page(FlowController::Family::kRequests),
                         R"(f{inference_pool="default/p",outcome="EvictedTTL",priority="1"})"),
            1);
  EXPECT_EQ(h.flow->stale_endpoints(), 0u);
  h.tp.clock.advance(std::chrono::seconds(1));  // both samples are now stale
  h.admit(-1);
  EXPECT_EQ(h.flow->stale_endpoints(), 2u);
  EXPECT_EQ(
      sample_value(h.page(FlowController::Family::kSaturation), R"(f{inference_pool="default/p"})"),
      1);
}

}  // namespace
}  // namespace infergate::gateway::flowcontrol
