// Fused sigmoid-gated units on the CPU: one pass forward, one pass backward.
//
// Swish-beta, ACON-C, Meta-ACON and Sqish are all
//     y = x (A + B s),   s = sigmoid(K x + D),
// with A, B, K, D constant along a row of x viewed as [rows, inner] (a row is one channel
// of one sample, or the whole tensor for a per-layer unit). Python maps each unit's
// parameters to A..D and lets autograd carry their gradients back, so one kernel serves
// all four:
//     dy/dx = A + B s + B K x s(1-s)
//     dy/dA = x,   dy/dB = x s,   dy/dK = B x^2 s(1-s),   dy/dD = B x s(1-s).
// The backward returns dx and the gradients of A..D, each at its own length.
//
// APALU is piecewise in x: a (x + x sigmoid(1.702 x)) for x >= 0, b expm1(x) below.
// One exp per element serves both branches: exp(-1.702 x) gives the sigmoid where x >= 0
// and exp(x) the ELU part below, as expm1 (apalu_expm1: e - 1 loses every digit as x -> 0).
//
// Where the time goes is the exp: Sleef's, which torch.compile emits, costs about as
// much as a pass over memory on the machines we measured. exp_lanes (exp.h) takes about
// half of that (see its comment). Work is split into items (one chunk of one row); each
// item's sums go into its own slot, added up once at the end, so no atomics.
#include "exp.h"
#include "passes.h"

namespace {

using namespace passes;

// One of A, B, K, D: a value per row, per channel, or for the whole tensor.
struct RowParam {
  const float* data;
  int64_t length;
  float at(int64_t row, const Rows& g) const {
    return length == 1 ? data[0] : length == g.rows ? data[row] : data[row % g.channels];
  }
};

RowParam row_param(const torch::Tensor& p, const Rows& g, const char* name) {
  TORCH_CHECK(p.dim() == 1 && p.is_contiguous() && p.scalar_type() == torch::kFloat32, "gated: ", name,
              " must be a contiguous float32 vector");
  TORCH_CHECK(p.size(0) == 1 || p.size(0) == g.channels || p.size(0) == g.rows, "gated: ", name, " has ",
              p.size(0), " values; expected 1, the channels (", g.channels, ") or samples x channels (", g.rows, ")");
  return {p.data_ptr<float>(), p.size(0)};
}

struct RowConstants {
  float a, b, k, d, bk;
};

// A..D looked up once per row, not once per vector.
std::vector<RowConstants> row_constants(const Rows& g, const torch::Tensor& A, const torch::Tensor& B,
                                        const torch::Tensor& K, const torch::Tensor& D) {
  const RowParam p[4] = {row_param(A, g, "A"), row_param(B, g, "B"), row_param(K, g, "K"), row_param(D, g, "D")};
  std::vector<RowConstants> table(g.rows);
  for (int64_t row = 0; row < g.rows; ++row) {
    const float a = p[0].at(row, g), b = p[1].at(row, g), k = p[2].at(row, g), d = p[3].at(row, g);
    table[row] = {a, b, k, d, b * k};
  }
  return table;
}

torch::Tensor gated_forward(const torch::Tensor& x, const torch::Tensor& A, const torch::Tensor& B,
                            const torch::Tensor& K, const torch::Tensor& D, int64_t channels) {
  check_float32(x, "gated", "x");
  const Rows g(x, channels);
  const auto table = row_constants(g, A, B, K, D);
  auto y = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for_each_vector(g, [&](int64_t row, int64_t i, int64_t n) {
    const RowConstants& c = table[row];
    const VF v = load_part(xp + i, n);
    store_part(yp + i, v * (c.a + c.b * sigmoid_lanes(c.k * v + c.d)), n);
  });
  return y;
}

// -> (dx, dA, dB, dK, dD): each parameter's gradient at its own length. Per row they are
// the sums of dy x, dy x s, B dy x^2 s(1-s) and B dy x s(1-s).
std::vector<torch::Tensor> gated_backward(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& A,
                                          const torch::Tensor& B, const torch::Tensor& K, const torch::Tensor& D,
                                          int64_t channels) {
  check_backward_inputs(x, dy, "gated");
  const Rows g(x, channels);
  const auto table = row_constants(g, A, B, K, D);
  auto dx = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* gp = dy.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  const auto sums = row_sums<4>(g, [&](int64_t row, int64_t i, int64_t n, VF* partial) {
    const RowConstants& c = table[row];
    const VF v = load_part(xp + i, n), grad = load_part(gp + i, n);
    const VF s = sigmoid_lanes(c.k * v + c.d);
    const VF x_ds = v * (s - s * s);  // x s(1-s)
    const VF grad_x = grad * v;
    store_part(dxp + i, grad * (c.a + c.b * s + c.bk * x_ds), n);
    partial[0] += grad_x;
    partial[1] += grad_x * s;
    partial[2] += grad_x * x_ds;
    partial[3] += grad * x_ds;
  });
  // Each row's sums down to the parameter's length (1, channels or rows); B, constant on
  // a row, scales those of K and D.
  const int64_t lengths[4] = {A.size(0), B.size(0), K.size(0), D.size(0)};
  std::vector<torch::Tensor> grads = {dx};
  for (int s = 0; s < 4; ++s) {
    auto grad = torch::zeros({lengths[s]}, x.options().dtype(torch::kFloat64));
    double* out = grad.data_ptr<double>();
    for (int64_t row = 0; row < g.rows; ++row) {
      const int64_t slot = lengths[s] == 1 ? 0 : lengths[s] == g.rows ? row : row % g.channels;
      out[slot] += (s >= 2 ? table[row].b : 1.0) * sums[row * 4 + s];
    }
    grads.push_back(grad.to(torch::kFloat32));
  }
  return grads;
}

constexpr float kApaluGate = 1.702f;  // sigmoid(1.702 x) approximates the Gaussian CDF

// expm1(v) for v <= 0 from e = exp(v): e - 1 where that is exact to a few ulps (v <= -0.35,
// where e - 1 <= -0.29), else the Taylor series to degree 7, whose remainder (v^8 / 8!)
// stays below 2e-8 of expm1(v) there. e - 1 alone is 100 % off for |v| < 6e-8.
inline VF apalu_expm1(VF v, VF e) {
  VF series = splat(1.0f / 5040);
  for (const float c : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f}) series = series * v + c;
  return v > -0.35f ? series * v : e - 1.0f;
}

// APALU's a and b: float32 tensors of one value each.
float apalu_param(const torch::Tensor& p, const char* name) {
  check_float32(p, "apalu", name);
  TORCH_CHECK(p.numel() == 1, "apalu: ", name, " has ", p.numel(), " values; expected 1");
  return p.data_ptr<float>()[0];
}

torch::Tensor apalu_forward(const torch::Tensor& x, const torch::Tensor& a_, const torch::Tensor& b_) {
  check_float32(x, "apalu", "x");
  const float a = apalu_param(a_, "a"), b = apalu_param(b_, "b");
  return map_vectors(x, [&](VF v) {
    const auto positive = v >= 0;
    const VF e = exp_lanes(positive ? v * -kApaluGate : v);
    return positive ? a * (v + v / (1.0f + e)) : b * apalu_expm1(v, e);
  });
}

// -> (dx, da, db): da sums dy (x + x s) where x >= 0, db sums dy expm1(x) below
std::vector<torch::Tensor> apalu_backward(const torch::Tensor& x, const torch::Tensor& dy, const torch::Tensor& a_,
                                          const torch::Tensor& b_) {
  check_backward_inputs(x, dy, "apalu");
  const Rows g(x, 1);
  const float a = apalu_param(a_, "a"), b = apalu_param(b_, "b");
  auto dx = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* gp = dy.data_ptr<float>();
  float* dxp = dx.data_ptr<float>();
  const VF zero{};
  const auto sums = row_sums<2>(g, [&](int64_t, int64_t i, int64_t n, VF* partial) {
    const VF v = load_part(xp + i, n), grad = load_part(gp + i, n);
    const auto positive = v >= 0;
    const VF e = exp_lanes(positive ? v * -kApaluGate : v);
    const VF s = 1.0f / (1.0f + e);  // sigmoid(1.702 x) where x >= 0
    store_part(dxp + i, grad * (positive ? a * (1.0f + s + kApaluGate * v * (s - s * s)) : b * e), n);
    partial[0] += positive ? grad * (v + v * s) : zero;
    partial[1] += positive ? zero : grad * apalu_expm1(v, e);
  });
  return {dx, torch::full({1}, sums[0], x.options()), torch::full({1}, sums[1], x.options())};
}

// e^x by exp_lanes, element by element: for the tests that hold it to its stated accuracy.
torch::Tensor exp_for_tests(const torch::Tensor& x) {
  check_float32(x, "exp", "x");
  auto y = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t i = 0; i < x.numel(); i += kLanes) {
    const int64_t n = std::min<int64_t>(kLanes, x.numel() - i);
    store_part(yp + i, exp_lanes(load_part(xp + i, n)), n);
  }
  return y;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gated_forward", &gated_forward, "y = x (A + B sigmoid(K x + D)), A..D per row");
  m.def("gated_backward", &gated_backward, "(dx, dA, dB, dK, dD)");
  m.def("apalu_forward", &apalu_forward, "APALU forward; a, b: float32 [1]");
  m.def("apalu_backward", &apalu_backward, "(dx, da, db)");
  m.def("exp", &exp_for_tests, "e^x by the kernels' vector exp (for tests)");
  m.def("lane_count", [] { return kLanes; }, "float lanes per vector in this build");
}
