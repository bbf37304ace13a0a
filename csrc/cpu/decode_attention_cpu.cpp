#include "decode_attention_cpu.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace fastprune {
namespace cpu {
namespace {

// Below this many multiply-adds per step, threads cost more than they save.
constexpr int64_t kMinWorkForThreads = 1 << 16;

void validate(const DecodeAttentionProblem& p) {
  if (p.batch < 0 || p.heads < 1 || p.kv_heads < 1 || p.head_dim < 2 || p.head_dim % 2 != 0) {
    throw std::invalid_argument("decode_attention: need batch >= 0, heads and kv_heads >= 1 and an even head_dim");
  }
  if (p.heads % p.kv_heads != 0) {
    throw std::invalid_argument("decode_attention: heads (" + std::to_string(p.heads) +
                                ") must be a multiple of kv_heads (" + std::to_string(p.kv_heads) + ")");
  }
  for (int64_t r = 0; r < p.batch; ++r) {
    if (p.positions[r] < 0 || p.positions[r] >= p.cache_len) {
      throw std::invalid_argument("decode_attention: row " + std::to_string(r) + " position " +
                                  std::to_string(p.positions[r]) + " is outside the cache (length " +
                                  std::to_string(p.cache_len) + ")");
    }
  }
}

// In place: x = norm_weight * (x * rsqrt(mean(x^2) + eps)), then x * cos + roll(x, d/2) * sin_signed.
void norm_and_rotate(float* x, const float* norm_weight, float eps, const float* cos, const float* sin, int64_t d,
                     float* tmp) {
  if (norm_weight != nullptr) {
    float sum = 0.0f;
    for (int64_t i = 0; i < d; ++i) sum += x[i] * x[i];
    const float scale = 1.0f / std::sqrt(sum / static_cast<float>(d) + eps);
    for (int64_t i = 0; i < d; ++i) x[i] = norm_weight[i] * (x[i] * scale);
  }
  const int64_t half = d / 2;
  for (int64_t i = 0; i < d; ++i) tmp[i] = x[i];
  for (int64_t i = 0; i < half; ++i) x[i] = tmp[i] * cos[i] + tmp[i + half] * sin[i];
  for (int64_t i = half; i < d; ++i) x[i] = tmp[i] * cos[i] + tmp[i - half] * sin[i];
}

// Row r, kv head g: store the new key and value, then attend every query head of the group.
void row_group(const DecodeAttentionProblem& p, int64_t r, int64_t g, float* scratch) {
  const int64_t d = p.head_dim;
  const int64_t pos = p.positions[r];
  const float* cos = p.cos_table + pos * d;
  const float* sin = p.sin_table + pos * d;
  const int64_t base = ((r * p.kv_heads) + g) * p.cache_len;
  float* kc = p.k_cache + base * d;
  float* vc = p.v_cache + base * d;
  float* tmp = scratch;
  float* qv = scratch + d;
  float* scores = scratch + 2 * d;
  float* acc = scores + p.cache_len;

  float* knew = kc + pos * d;
  const float* ksrc = p.k_new + r * p.k_stride + g * d;
  const float* vsrc = p.v_new + r * p.v_stride + g * d;
  for (int64_t i = 0; i < d; ++i) knew[i] = ksrc[i];
  norm_and_rotate(knew, p.k_norm, p.norm_eps, cos, sin, d, tmp);
  for (int64_t i = 0; i < d; ++i) vc[pos * d + i] = vsrc[i];

  const int64_t lo = p.window > 0 && pos - p.window + 1 > 0 ? pos - p.window + 1 : 0;
  const int64_t group = p.heads / p.kv_heads;
  for (int64_t h = g * group; h < (g + 1) * group; ++h) {
    const float* qsrc = p.q + r * p.q_stride + h * d;
    for (int64_t i = 0; i < d; ++i) qv[i] = qsrc[i];
    norm_and_rotate(qv, p.q_norm, p.norm_eps, cos, sin, d, tmp);
    float best = -INFINITY;
    for (int64_t j = lo; j <= pos; ++j) {
      const float* kj = kc + j * d;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < d; ++i) s += qv[i] * kj[i];
      s *= p.scale;
      scores[j] = s;
      best = s > best ? s : best;
    }
    float total = 0.0f;
    for (int64_t i = 0; i < d; ++i) acc[i] = 0.0f;
    for (int64_t j = lo; j <= pos; ++j) {
      const float w = std::exp(scores[j] - best);
      total += w;
      const float* vj = vc + j * d;
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) acc[i] += w * vj[i];
    }
    float* o = p.out + r * p.out_stride + h * d;
    const float inv = 1.0f / total;
    for (int64_t i = 0; i < d; ++i) o[i] = acc[i] * inv;
  }
}

}  // namespace

void decode_attention(const DecodeAttentionProblem& p, int num_threads) {
  validate(p);
  const int64_t units = p.batch * p.kv_heads;
  if (units == 0) return;
  const int64_t scratch_floats = 3 * p.head_dim + p.cache_len;
  int64_t work = 0;
  for (int64_t r = 0; r < p.batch; ++r) work += (p.positions[r] + 1) * p.heads * p.head_dim * 2;
#if defined(_OPENMP)
  int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
  if (work < kMinWorkForThreads) threads = 1;
  if (threads > units) threads = static_cast<int>(units);
#else
  const int threads = 1;
  (void)num_threads;
#endif
  std::vector<float> scratch(static_cast<size_t>(scratch_floats * threads));
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
  for (int64_t u = 0; u < units; ++u) {
#if defined(_OPENMP)
    float* mine = scratch.data() + omp_get_thread_num() * scratch_floats;
#else
    float* mine = scratch.data();
#endif
    row_group(p, u / p.kv_heads, u % p.kv_heads, mine);
  }
}

}  // namespace cpu
}  // namespace fastprune
