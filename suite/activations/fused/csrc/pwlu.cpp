// Fused PWLU on the CPU: one pass forward, one pass backward.
//
// x is viewed as [outer, C, inner] (C = 1 for a per-layer unit). Each thread walks
// contiguous chunks of one channel row and accumulates the parameter gradients of that
// channel (heights, outer slopes) in a private buffer; the buffers are summed once at
// the end. So the histogram-shaped heights gradient costs one add per element into an
// L1-resident array, not one atomic per element.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <vector>

namespace {

constexpr int64_t kChunk = 16384;
constexpr int64_t kMaxPoints = 257;  // regions <= 256 (checked in Python)

struct Geometry {
  int64_t outer, channels, inner;
};

Geometry geometry(const torch::Tensor& x, int64_t channels) {
  if (channels == 1) return {1, 1, x.numel()};
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == channels, "pwlu: channel mismatch");
  int64_t inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) inner *= x.size(d);
  return {x.size(0), channels, inner};
}

template <typename scalar_t>
inline void locate(scalar_t v, scalar_t left, scalar_t width, scalar_t top, int& index, scalar_t& t) {
  // Same arithmetic as the reference ((x - B_L) / d), so both pick the same region for
  // inputs within rounding of a region end, where the slope (and dx) jumps. Branch-free
  // (min/max, no ifs) so the loops that inline it can be vectorised.
  const scalar_t u = (v - left) / width;
  const scalar_t f = std::min(std::max(std::floor(u), scalar_t(0)), top);
  index = static_cast<int>(f);
  t = u - f;
}

}  // namespace

torch::Tensor pwlu_forward(torch::Tensor x, torch::Tensor heights, torch::Tensor left, torch::Tensor right,
                           torch::Tensor kl, torch::Tensor kr) {
  x = x.contiguous();
  const int64_t channels = heights.size(0), points = heights.size(1), regions = points - 1;
  auto g = geometry(x, channels);
  auto y = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pwlu_forward", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    auto H = heights.contiguous(); auto Lc = left.contiguous(); auto Rc = right.contiguous();
    auto KLc = kl.contiguous(); auto KRc = kr.contiguous();
    const scalar_t* hp = H.data_ptr<scalar_t>();
    const scalar_t *lp = Lc.data_ptr<scalar_t>(), *rp = Rc.data_ptr<scalar_t>();
    const scalar_t *klp = KLc.data_ptr<scalar_t>(), *krp = KRc.data_ptr<scalar_t>();
    const int64_t chunks = (g.inner + kChunk - 1) / kChunk;
    at::parallel_for(0, g.outer * g.channels * chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t row = item / chunks, chunk = item % chunks, c = row % g.channels;
        const scalar_t L = lp[c], R = rp[c], width = (R - L) / regions, KL = klp[c], KR = krp[c];
        const scalar_t* h = hp + c * points;
        const int64_t start = row * g.inner + chunk * kChunk;
        const int64_t stop = std::min(start + kChunk, (row + 1) * g.inner);
        // Branch-free so the compiler can vectorise it (gathers for the two heights).
        const scalar_t h0 = h[0], hn = h[regions], top = static_cast<scalar_t>(regions - 1);
        for (int64_t i = start; i < stop; ++i) {
          const scalar_t v = xp[i];
          int k; scalar_t t;
          locate(v, L, width, top, k, t);
          const scalar_t lo = h[k], hi = h[k + 1];
          scalar_t out = lo + t * (hi - lo);
          out = v < L ? (v - L) * KL + h0 : out;
          out = v >= R ? (v - R) * KR + hn : out;
          yp[i] = out;
        }
      }
    });
  });
  return y;
}

std::vector<torch::Tensor> pwlu_backward(torch::Tensor x, torch::Tensor dy, torch::Tensor heights, torch::Tensor left,
                                         torch::Tensor right, torch::Tensor kl, torch::Tensor kr) {
  x = x.contiguous(); dy = dy.contiguous();
  const int64_t channels = heights.size(0), points = heights.size(1), regions = points - 1;
  auto g = geometry(x, channels);
  auto dx = torch::empty_like(x);
  // Per-thread gradient buffers: [threads, C, points + 2] (heights, then K_L, K_R).
  const int64_t threads = at::get_num_threads();
  const int64_t stride = points + 2;
  auto partial = torch::zeros({threads, channels, stride}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "pwlu_backward", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* gp = dy.data_ptr<scalar_t>();
    scalar_t* dxp = dx.data_ptr<scalar_t>();
    scalar_t* pp = partial.data_ptr<scalar_t>();
    auto H = heights.contiguous(); auto Lc = left.contiguous(); auto Rc = right.contiguous();
    auto KLc = kl.contiguous(); auto KRc = kr.contiguous();
    const scalar_t* hp = H.data_ptr<scalar_t>();
    const scalar_t *lp = Lc.data_ptr<scalar_t>(), *rp = Rc.data_ptr<scalar_t>();
    const scalar_t *klp = KLc.data_ptr<scalar_t>(), *krp = KRc.data_ptr<scalar_t>();
    const int64_t chunks = (g.inner + kChunk - 1) / kChunk;
    at::parallel_for(0, g.outer * g.channels * chunks, 1, [&](int64_t begin, int64_t end) {
      scalar_t* mine = pp + at::get_thread_num() * channels * stride;
      for (int64_t item = begin; item < end; ++item) {
        const int64_t row = item / chunks, chunk = item % chunks, c = row % g.channels;
        const scalar_t L = lp[c], R = rp[c], width = (R - L) / regions, KL = klp[c], KR = krp[c];
        const scalar_t* h = hp + c * points;
        scalar_t* acc = mine + c * stride;
        // Four interleaved sub-histograms: neighbouring elements often fall in the same
        // region, and one histogram would chain their read-modify-writes.
        constexpr int kLanes = 4;
        scalar_t lanes[kLanes][kMaxPoints + 1] = {};
        scalar_t acc_kl = 0, acc_kr = 0;
        const scalar_t top = static_cast<scalar_t>(regions - 1);
        const int64_t start = row * g.inner + chunk * kChunk;
        const int64_t stop = std::min(start + kChunk, (row + 1) * g.inner);
        for (int64_t i = start; i < stop; ++i) {
          const scalar_t v = xp[i], d = gp[i];
          int k; scalar_t t;
          locate(v, L, width, top, k, t);
          const bool left_out = v < L, right_out = v >= R;
          const scalar_t inside = (left_out || right_out) ? scalar_t(0) : scalar_t(1);
          const scalar_t slope = left_out ? KL : (right_out ? KR : (h[k + 1] - h[k]) / width);
          dxp[i] = d * slope;
          scalar_t* lane = lanes[i & (kLanes - 1)];
          // inside: d(1-t) to k, d t to k+1; left: d to 0 (k = 0, t <= 0); right: d to N.
          lane[k] += inside * d * (1 - t) + (left_out ? d : scalar_t(0));
          lane[k + 1] += inside * d * t + (right_out ? d : scalar_t(0));
          acc_kl += left_out ? d * (v - L) : scalar_t(0);
          acc_kr += right_out ? d * (v - R) : scalar_t(0);
        }
        for (int l = 0; l < kLanes; ++l)
          for (int64_t j = 0; j < points; ++j) acc[j] += lanes[l][j];
        acc[points] += acc_kl;
        acc[points + 1] += acc_kr;
      }
    });
  });
  auto total = partial.sum(0);  // [C, points + 2]
  return {dx, total.narrow(1, 0, points).contiguous(), total.select(1, points).contiguous(),
          total.select(1, points + 1).contiguous()};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &pwlu_forward, "PWLU forward (CPU)");
  m.def("backward", &pwlu_backward, "PWLU backward (CPU)");
}
