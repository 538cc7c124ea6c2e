// TrainStep with --global-batch when --skip-bad-images leaves files out (issue 21, defect 9):
// the step is the mean over the images it had (Note [A step over the images it had]), and a
// micro-batch that had none leaves no BatchNorm statistics, as on one worker.
#include <gtest/gtest.h>

#include "core/config.h"
#include "model/batchnorm.h"
#include "parallel/communicator.h"
#include "train/batchnorm_replay.h"
#include "train/optimizer.h"
#include "train/train_step.h"

namespace rt {

namespace {

// 2 channels of 1x1 pixels -> [BatchNorm] -> 3 classes.
struct Small : Classifier {
  explicit Small(bool with_bn) {
    if (with_bn) bn = register_module("bn", BatchNorm(2));
    fc = register_module("fc", torch::nn::Linear(2, 3));
  }
  torch::Tensor forward(torch::Tensor x) override { return fc((bn ? bn->forward(x) : x).flatten(1)); }
  std::string arch() const override { return "small"; }
  int64_t num_classes() const override { return 3; }
  BatchNorm bn{nullptr};
  torch::nn::Linear fc{nullptr};
};

struct Stepper {
  explicit Stepper(Small& model, bool with_replay) : comm(make_single_process_communicator()) {
    Config c;
    c.lr = 1;
    c.momentum = 0;
    c.weight_decay = 0;
    optimizer = make_sgd(model, c);
    sync = std::make_unique<GradientSync>(model.parameters(), *comm, 1 << 20);
    flags = std::make_unique<StepFlags>(*comm, torch::kCPU);
    if (with_replay) replay = std::make_unique<BatchNormReplay>(model, *comm, torch::kCPU, true);
    TrainStep::Options o;
    o.images_may_be_skipped = true;
    step = std::make_unique<TrainStep>(model, *optimizer, *sync, *flags, nullptr, o, replay.get());
  }
  // One step of micro-batches planned at `planned` images each (one worker, --global-batch),
  // which had `images[i]` each.
  void run(const std::vector<torch::Tensor>& images, const std::vector<torch::Tensor>& labels, int64_t planned) {
    const auto count = static_cast<int64_t>(images.size());
    step->begin(1.0);
    for (int64_t i = 0; i < count; ++i) {
      MicroBatch m;
      m.index = i;
      m.count = count;
      m.step_micros = count;
      m.images = planned;
      m.step_images = static_cast<double>(planned * count);
      m.divisor = m.step_images / static_cast<double>(planned);
      step->run(images[static_cast<size_t>(i)], labels[static_cast<size_t>(i)], m, 1, nullptr);
    }
  }
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<FusedSgd> optimizer;
  std::unique_ptr<GradientSync> sync;
  std::unique_ptr<StepFlags> flags;
  std::unique_ptr<BatchNormReplay> replay;
  std::unique_ptr<TrainStep> step;
};

}  // namespace

TEST(TrainStep, AStepIsTheMeanOverTheImagesItHad) {
  torch::manual_seed(3);
  Small model(/*with_bn=*/false), reference(/*with_bn=*/false);
  for (size_t i = 0; i < model.parameters().size(); ++i) {
    torch::NoGradGuard no_grad;
    reference.parameters()[i].copy_(model.parameters()[i]);
  }
  const auto x = torch::randn({6, 2, 1, 1}), y = torch::randint(0, 3, {6});
  // Planned 4 + 4 images; the second micro-batch lost 2 of its files.
  Stepper stepper(model, /*with_replay=*/false);
  const auto before = model.fc->weight.detach().clone();
  stepper.run({x.narrow(0, 0, 4), x.narrow(0, 4, 2)}, {y.narrow(0, 0, 4), y.narrow(0, 4, 2)}, 4);
  // The gradient of the mean loss over the 6 images (lr 1: the step is minus the gradient).
  torch::nn::functional::cross_entropy(reference.forward(x), y).backward();
  const auto step = before - model.fc->weight.detach();
  EXPECT_TRUE(torch::allclose(step, reference.fc->weight.grad(), 1e-5, 1e-6))
      << "step\n"
      << step << "\nthe mean over the images it had\n"
      << reference.fc->weight.grad();
}

TEST(TrainStep, AMicroBatchWithNoImagesLeavesNoBatchNormStatistics) {
  torch::manual_seed(4);
  Small model(/*with_bn=*/true);
  BatchNorm alone(2);  // one worker that never saw the empty micro-batch, plain BatchNorm
  const auto a = torch::randn({4, 2, 1, 1}) * 3 + 1, c = torch::randn({4, 2, 1, 1}) * 0.5 - 2;
  const auto y = torch::randint(0, 3, {4});
  Stepper stepper(model, /*with_replay=*/true);
  stepper.run({a, torch::empty({0, 2, 1, 1}), c}, {y, torch::empty({0}, torch::kLong), y}, 4);
  alone->train();
  alone->forward(a);
  alone->forward(c);
  EXPECT_TRUE(torch::allclose(model.bn->running_mean, alone->running_mean, 1e-6, 1e-7))
      << model.bn->running_mean << alone->running_mean;
  EXPECT_TRUE(torch::allclose(model.bn->running_var, alone->running_var, 1e-6, 1e-7))
      << model.bn->running_var << alone->running_var;
  EXPECT_EQ(model.bn->num_batches_tracked.item<int64_t>(), 2);
}

}  // namespace rt
