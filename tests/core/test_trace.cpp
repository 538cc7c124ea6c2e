// The trace recorder (core/trace.h) and its use by GradientSync: events in the trace-event
// format, step ranges, and each bucket's allreduce recorded from launch to completion on
// every rank, gathered in rank order by all_gather_strings.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/trace.h"
#include "parallel/grad_sync.h"
#include "parallel/ranks.h"

namespace rt {
namespace {

TEST(Trace, StepRangesParseAndBadOnesAreRefused) {
  EXPECT_EQ(parse_step_range("3-5", "--trace-steps"), std::make_pair(int64_t{3}, int64_t{5}));
  EXPECT_EQ(parse_step_range("7", "--trace-steps"), std::make_pair(int64_t{7}, int64_t{7}));
  for (const char* bad : {"", "0-2", "5-3", "a-b", "3-", "-3", "1-2-3", "3.5"}) {
    EXPECT_THROW(parse_step_range(bad, "--trace-steps"), UserError) << bad;
  }
}

// A hand parser (std::regex recursed per character and overflowed the stack on a long value):
// spaces around the numbers, 1 to 12 digits each, and any length of input refused at once.
TEST(Trace, StepRangeParserTakesSpacesAndBoundsItsInput) {
  EXPECT_EQ(parse_step_range(" 3 - 5 ", "--trace-steps"), std::make_pair(int64_t{3}, int64_t{5}));
  EXPECT_EQ(parse_step_range("\t12", "--trace-steps"), std::make_pair(int64_t{12}, int64_t{12}));
  EXPECT_EQ(parse_step_range("007-8", "--trace-steps"), std::make_pair(int64_t{7}, int64_t{8}));
  EXPECT_EQ(parse_step_range("1-999999999999", "--trace-steps"), std::make_pair(int64_t{1}, int64_t{999999999999}));
  for (const std::string bad : {"1-1000000000000", "1000000000000", "3 4", "3-5 6", "3--5", "+3", "3-+5", "0x10"}) {
    EXPECT_THROW(parse_step_range(bad, "--trace-steps"), UserError) << bad;
  }
  for (const std::string& huge : {std::string(1000000, '1'), "1-" + std::string(1000000, '9'),
                                  std::string(1000000, ' '), "1" + std::string(1000000, ' ') + "-x"}) {
    try {
      parse_step_range(huge, "--trace-steps");
      ADD_FAILURE() << "no error for a value of " << huge.size() << " characters";
    } catch (const UserError& e) {
      // One short line: the value is shown cut to 40 characters.
      EXPECT_LT(std::string(e.what()).size(), 200u) << e.what();
      EXPECT_NE(std::string(e.what()).find("--trace-steps '"), std::string::npos) << e.what();
    }
  }
}

TEST(Trace, SpansRecordOnlyWhileRecordingAndMergeAcrossRanks) {
  TraceRecorder a(0, 2, 3), b(1, 2, 3);
  EXPECT_FALSE(a.wants(1));
  EXPECT_TRUE(a.wants(2));
  EXPECT_TRUE(a.wants(3));
  EXPECT_FALSE(a.wants(4));
  a.start();
  { TraceSpan ignored(&a, "not recorded"); }
  a.set_recording(true);
  { TraceSpan span(&a, "forward"); }
  b.set_recording(true);
  { TraceSpan span(&b, "backward"); }
  const auto merged = merge_trace({a.events_json(), b.events_json()});
  std::map<std::string, int> complete;  // name -> pid of the "X" events
  std::set<int> named;                  // pids with a process_name
  for (const auto& e : merged.at("traceEvents")) {
    if (e.at("ph") == "X") {
      complete[e.at("name").get<std::string>()] = e.at("pid").get<int>();
      EXPECT_GE(e.at("dur").get<double>(), 0);
      EXPECT_GE(e.at("ts").get<double>(), 0);
    }
    if (e.at("name") == "process_name") named.insert(e.at("pid").get<int>());
  }
  EXPECT_EQ(complete, (std::map<std::string, int>{{"forward", 0}, {"backward", 1}}));
  EXPECT_EQ(named, (std::set<int>{0, 1}));
  EXPECT_EQ(merged.at("displayTimeUnit"), "ms");
}

TEST(Trace, EveryBucketAllreduceIsRecordedOnEveryRankAndGatheredInRankOrder) {
  constexpr int kWorld = 2;
  std::vector<std::string> gathered[kWorld];
  test::run_ranks(kWorld, [&](int rank, Communicator& comm) {
    torch::manual_seed(0);
    torch::nn::Sequential net(torch::nn::Linear(8, 16), torch::nn::ReLU(), torch::nn::Linear(16, 4));
    auto trace = std::make_shared<TraceRecorder>(rank, 1, 1);
    GradientSync sync(net->parameters(), comm, /*bucket_cap_bytes=*/300);  // several buckets
    sync.set_trace(trace);
    trace->start();
    trace->set_recording(true);
    net->forward(torch::randn({5, 8})).sum().backward();
    sync.finish();
    const size_t buckets = sync.num_buckets();
    EXPECT_GE(buckets, 2u);
    // One more collective, so that the last bucket's completion callback has surely run.
    auto t = torch::ones({1});
    comm.allreduce_sum(t, "test barrier");
    int recorded = 0;
    for (const auto& e : nlohmann::json::parse(trace->events_json())) {
      if (e.at("ph") == "X" && e.at("name").get<std::string>().rfind("allreduce bucket ", 0) == 0) {
        ++recorded;
        EXPECT_EQ(e.at("pid"), rank);
        EXPECT_GT(e.at("args").at("bytes").get<int64_t>(), 0);
      }
    }
    EXPECT_EQ(recorded, static_cast<int>(buckets)) << "rank " << rank;
    gathered[rank] = all_gather_strings(comm, "rank " + std::to_string(rank) + std::string(rank * 3, 'x'), torch::kCPU,
                                        "test strings");
  });
  for (int r = 0; r < kWorld; ++r) {
    EXPECT_EQ(gathered[r], (std::vector<std::string>{"rank 0", "rank 1xxx"})) << "on rank " << r;
  }
}

}  // namespace
}  // namespace rt
