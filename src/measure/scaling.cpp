#include "measure/scaling.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "parallel/buckets.h"

namespace rt {

double ring_allreduce_seconds(const LinkModel& link, double bytes, int64_t n) {
  if (n <= 1) return 0;
  const double hops = 2.0 * static_cast<double>(n - 1);
  return hops * link.alpha + hops / static_cast<double>(n) * bytes / link.beta;
}

LinkModel fit_link(const std::vector<std::pair<double, double>>& bytes_seconds, int64_t n) {
  RT_CHECK_USER(bytes_seconds.size() >= 2 && n >= 2,
                "fitting a link model needs allreduce times of at least two sizes over 2+ ranks");
  // t = a + b S with a = 2(n-1) alpha, b = 2(n-1)/(n beta). b: least squares over the larger
  // half of the sizes (at least two), where the bytes dominate; a: the median of t - b S over
  // the smaller half, where the latency does. Small messages over a real stack take one of
  // several times (a timer tick, or none) and a token bucket lets them through at line rate:
  // a single fit weighting every size would follow them and miss the bandwidth.
  auto points = bytes_seconds;
  std::sort(points.begin(), points.end());
  const size_t half = points.size() / 2, from = std::min(half, points.size() - 2);
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const auto k = static_cast<double>(points.size() - from);
  for (size_t i = from; i < points.size(); ++i) {
    const auto [x, y] = points[i];
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double det = k * sxx - sx * sx;
  RT_CHECK_USER(det > 0, "allreduce sizes must differ to fit a link model");
  const double b = std::max((k * sxy - sx * sy) / det, 1e-15);
  std::vector<double> latency;
  for (size_t i = 0; i < std::max<size_t>(half, 1); ++i) latency.push_back(points[i].second - b * points[i].first);
  std::sort(latency.begin(), latency.end());
  const size_t mid = latency.size() / 2;
  const double a = std::max(0.0, latency.size() % 2 ? latency[mid] : (latency[mid - 1] + latency[mid]) / 2);
  const double hops = 2.0 * static_cast<double>(n - 1);
  LinkModel m;
  m.alpha = a / hops;
  m.beta = hops / static_cast<double>(n) / b;
  m.name = "fitted";
  return m;
}

LinkModel fit_link_to_allreduce(const nlohmann::json& j) {
  std::vector<std::pair<double, double>> points;
  try {
    for (const auto& row : j.at("rows")) {
      if (row.contains("compression")) continue;  // a compressed bucket's time is not the link's
      points.emplace_back(row.at("bytes").get<double>(), row.at("seconds").get<double>());
    }
    return fit_link(points, j.at("world_size").get<int64_t>());
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("not the JSON of `ringtrain bench --allreduce --json` ({})", e.what()));
  }
}

LinkModel link_of_rate(double gbps, double latency_us) {
  return {latency_us * 1e-6, gbps * 1e9 / 8, fmt::format("{:g}Gbps", gbps)};
}

LinkModel link_preset(const std::string& name) {
  if (name == "nvlink") return {2e-6, 450e9, name};
  if (name == "ib") return {2e-6, 25e9, name};
  if (name == "100gbe") return {10e-6, 12.5e9, name};
  if (name == "10gbe") return {30e-6, 1.25e9, name};
  throw UserError(
      fmt::format("unknown link preset '{}': use nvlink, ib, 100gbe or 10gbe, or give "
                  "--link-gbps and --link-latency-us",
                  name));
}

std::vector<std::string> link_preset_names() { return {"nvlink", "ib", "100gbe", "10gbe"}; }

nlohmann::json StepPrediction::to_json() const {
  return {{"workers", workers},
          {"compute_seconds", compute_seconds},
          {"comm_seconds", comm_seconds},
          {"exposed_seconds", exposed_seconds},
          {"step_seconds", step_seconds},
          {"images_per_second", images_per_second},
          {"speedup", speedup},
          {"efficiency", efficiency},
          {"flags", flags}};
}

double unmeasured_overlap(size_t buckets) { return buckets > 1 ? 1.0 - 1.0 / static_cast<double>(buckets) : 0.0; }

double compute_seconds(const StepModel& m, double batch) {
  RT_CHECK_USER(!m.compute_points.empty(), "the step model has no measured compute time");
  auto pts = m.compute_points;
  std::sort(pts.begin(), pts.end());
  if (batch <= pts.front().first) return pts.front().second / pts.front().first * batch;
  if (batch >= pts.back().first) return pts.back().second / pts.back().first * batch;
  for (size_t i = 1; i < pts.size(); ++i) {
    if (batch <= pts[i].first) {
      const auto& [b0, t0] = pts[i - 1];
      const auto& [b1, t1] = pts[i];
      return t0 + (t1 - t0) * (batch - b0) / (b1 - b0);
    }
  }
  return pts.back().second;
}

StepPrediction predict_step(const StepModel& m, const LinkModel& link, int64_t n, int64_t batch_per_worker) {
  StepPrediction p;
  p.workers = n;
  p.compute_seconds = compute_seconds(m, static_cast<double>(batch_per_worker));
  double overhead = 0;  // compressing, and the lock-step cost (N > 1)
  if (n > 1) {
    std::vector<BucketTraffic> traffic = m.traffic;
    if (traffic.empty()) {
      for (const double b : m.bucket_bytes) traffic.push_back({b, 0});
    }
    double after = 0;  // second allreduces, issued once backward is done: never hidden
    for (const auto& t : traffic) {
      p.comm_seconds += ring_allreduce_seconds(link, t.during_backward, n);
      if (t.after_backward > 0) after += ring_allreduce_seconds(link, t.after_backward, n);
    }
    const double backward = m.backward_share * p.compute_seconds;
    if (m.bucket_ready.size() == traffic.size() && !traffic.empty()) {  // the buckets' pipeline on the link
      double end = 0;
      for (size_t k = 0; k < traffic.size(); ++k) {
        end = std::max(m.bucket_ready[k] * backward, end) + ring_allreduce_seconds(link, traffic[k].during_backward, n);
      }
      p.exposed_seconds = std::max(0.0, end - backward) + after;
    } else {
      const double last = traffic.empty() ? 0 : ring_allreduce_seconds(link, traffic.back().during_backward, n);
      p.exposed_seconds = std::max(last, p.comm_seconds - m.overlap * backward) + after;
    }
    p.comm_seconds += after;
    overhead = m.compress_seconds + m.sync_seconds;
  }
  p.step_seconds = p.compute_seconds + overhead + p.exposed_seconds;
  p.images_per_second = static_cast<double>(batch_per_worker * n) / p.step_seconds;
  return p;
}

double calibrate_sync_seconds(StepModel m, const LinkModel& link, int64_t n, int64_t batch_per_worker,
                              double images_per_second) {
  RT_CHECK_USER(n > 1 && images_per_second > 0 && std::isfinite(images_per_second),
                "calibrating the lock-step cost needs a measured run of 2 or more workers, got {} workers at {} img/s",
                n, images_per_second);
  m.sync_seconds = 0;
  const double measured = static_cast<double>(batch_per_worker * n) / images_per_second;
  return std::max(0.0, measured - predict_step(m, link, n, batch_per_worker).step_seconds);
}

std::vector<StepPrediction> project(const StepModel& m, const LinkModel& link, const std::vector<int64_t>& workers,
                                    int64_t batch, bool weak) {
  const double base = predict_step(m, link, 1, batch).images_per_second;
  std::vector<StepPrediction> out;
  for (int64_t n : workers) {
    const int64_t b = weak ? batch : std::max<int64_t>(1, batch / n);
    auto p = predict_step(m, link, n, b);
    p.speedup = p.images_per_second / base;
    p.efficiency = p.speedup / static_cast<double>(n);
    out.push_back(p);
  }
  return out;
}

int64_t first_inefficient(const std::vector<StepPrediction>& predictions, double threshold) {
  for (const auto& p : predictions) {
    if (p.efficiency < threshold) return p.workers;
  }
  return 0;
}

namespace {

// The parameters of each bucket GradientSync forms (parallel/buckets.h), in launch order.
std::vector<std::vector<size_t>> bucket_members(const std::vector<double>& param_bytes, double cap_bytes) {
  std::vector<BucketParam> params;
  for (const double b : param_bytes) params.push_back({static_cast<int64_t>(b), 0});
  return assign_buckets(params, static_cast<int64_t>(cap_bytes));
}

}  // namespace

std::vector<double> bucket_sizes(const std::vector<double>& param_bytes, double cap_bytes) {
  std::vector<double> buckets;
  for (const auto& members : bucket_members(param_bytes, cap_bytes)) {
    double bytes = 0;
    for (const size_t m : members) bytes += param_bytes[m];
    buckets.push_back(bytes);
  }
  return buckets;
}

std::vector<double> bucket_readiness(const std::vector<double>& param_bytes, const std::vector<double>& param_ready,
                                     double cap_bytes) {
  RT_CHECK_USER(param_bytes.size() == param_ready.size(), "{} parameters but {} readiness figures", param_bytes.size(),
                param_ready.size());
  std::vector<double> ready;
  for (const auto& members : bucket_members(param_bytes, cap_bytes)) {
    double r = 0;
    for (const size_t m : members) r = std::max(r, param_ready[m]);
    ready.push_back(r);
  }
  return ready;
}

std::vector<BucketTraffic> bucket_traffics(const std::vector<std::vector<int64_t>>& param_shapes, double cap_bytes,
                                           const GradCompression& compression) {
  std::vector<double> param_bytes;
  for (const auto& shape : param_shapes) {
    const auto [n, m] = matrix_sides(shape);
    param_bytes.push_back(static_cast<double>(n * m * 4));
  }
  std::vector<BucketTraffic> out;
  for (const auto& members : bucket_members(param_bytes, cap_bytes)) {
    std::vector<std::vector<int64_t>> shapes;
    for (const size_t i : members) shapes.push_back(param_shapes[i]);
    out.push_back(bucket_traffic(compression, shapes));
  }
  return out;
}

}  // namespace rt
