// CUDA boundary_stats: one pass over hidden [K, N, D], per-block float32 partials, float64 reduction.
//
// Stage 1 (partial_kernel): a block walks tokens t = blockIdx.x, blockIdx.x + gridDim.x, ... For each
// token the K x D slice is staged through shared memory in chunks of `chunk` columns, stored transposed
// ([column][k_pad]) so a thread reads four consecutive boundaries with one float4 load. Each thread owns
// one 4x4 tile (ti <= tj) of the upper-triangular Gram matrix and keeps its 16 dot products in
// registers: 2 shared loads per 16 FMAs. Thread k additionally accumulates |h_k|^2 and
// |h_{k+1} - h_k|^2 directly (a Gram-based difference cancels for small residual updates). After the
// token's last chunk each thread adds its tile's weighted cos/angle terms to the block's own row of
// float32 partials (entries owned by one thread, so no atomics; the row stays in L2). Keeping those
// sums out of registers is what lets large blocks run without spilling.
// Stage 2 (reduce_kernel): sums the blocks' partials in float64 and expands the upper triangle into the
// packed symmetric layout. Block order is fixed, so results are deterministic for a given grid.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "../common/dtype.h"
#include "boundary_stats_cuda.h"

namespace fastprune {
namespace cuda {
namespace {

constexpr int kTile = 4;
// 768 threads leave 80 registers per thread (no spills) and still cover K <= 152 in one round.
constexpr int kMaxThreads = 768;
constexpr int kSharedBudgetFloats = 8192;  // 32 KiB of staged columns, below the 48 KiB default limit
constexpr float kEps = 1e-8f;
constexpr float kInvPi = 0.318309886183790671538f;

struct Config {
  int k, tiles, k_pad, pairs, threads, chunk;
  size_t shared_bytes;
  int64_t upper;          // K*(K+1)/2
  int64_t partial_floats; // per block: cos upper | ang upper | norm K | update K-1 | weight 1

  explicit Config(int64_t k_) : k(static_cast<int>(k_)) {
    tiles = (k + kTile - 1) / kTile;
    k_pad = tiles * kTile;
    pairs = tiles * (tiles + 1) / 2;
    const int want = pairs > k ? pairs : k;
    threads = want >= kMaxThreads ? kMaxThreads : (want + 31) / 32 * 32;
    chunk = 128;
    while (chunk > 8 && chunk * k_pad > kSharedBudgetFloats) chunk /= 2;
    shared_bytes = sizeof(float) * (static_cast<size_t>(chunk) * k_pad + k_pad);
    upper = static_cast<int64_t>(k) * (k + 1) / 2;
    partial_floats = 2 * upper + 2 * static_cast<int64_t>(k);
  }
};

void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("fastprune._native_cuda: ") + what + ": " + cudaGetErrorString(err));
  }
}

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }

// NaN must reach the outputs, so no fmaxf/fminf (they drop NaN): comparisons are false for NaN.
__device__ __forceinline__ float max_eps(float x) { return x < kEps ? kEps : x; }
__device__ __forceinline__ float clamp_unit(float x) { return x > 1.0f ? 1.0f : (x < -1.0f ? -1.0f : x); }

// Packed index of (i, j), i <= j, in the row-major upper triangle of a K x K matrix.
__host__ __device__ __forceinline__ int64_t upper_index(int64_t i, int64_t j, int64_t k) {
  return i * k - i * (i - 1) / 2 + (j - i);
}

// Tile pair number p -> (ti, tj) with ti <= tj, row-major over the upper triangle of tiles.
__device__ __forceinline__ void decode_pair(int p, int tiles, int& ti, int& tj) {
  ti = 0;
  int row_len = tiles;
  while (p >= row_len) {
    p -= row_len;
    ++ti;
    --row_len;
  }
  tj = ti + p;
}

// Calls f(r, s, packed index) for every entry (i, j), i <= j < K, of tile pair (ti, tj).
template <typename F>
__device__ __forceinline__ void for_each_owned(int ti, int tj, int k, F&& f) {
#pragma unroll
  for (int r = 0; r < kTile; ++r) {
#pragma unroll
    for (int s = 0; s < kTile; ++s) {
      const int i = ti * kTile + r;
      const int j = tj * kTile + s;
      if (i < k && j < k && i <= j) f(r, s, upper_index(i, j, k));
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    partial_kernel(const T* __restrict__ hidden, const float* __restrict__ weight, int k, int64_t n, int64_t d,
                   int64_t stride_k, int64_t stride_n, int tiles, int pairs, int chunk, int64_t partial_floats,
                   float* __restrict__ partials) {
  extern __shared__ float4 shared4[];
  const int k_pad = tiles * kTile;
  float* staged = reinterpret_cast<float*>(shared4);  // [chunk][k_pad]
  float* norms = staged + static_cast<int64_t>(chunk) * k_pad;  // [k_pad]
  const int tid = threadIdx.x;
  const int64_t upper = static_cast<int64_t>(k) * (k + 1) / 2;
  float* out = partials + blockIdx.x * partial_floats;

  // Rounds only happen for K > 152, where the tile pairs outnumber a block's threads; each round
  // re-reads the block's tokens.
  for (int round = 0; round * static_cast<int>(blockDim.x) < pairs; ++round) {
    const int pair = round * blockDim.x + tid;
    const bool has_pair = pair < pairs;
    const bool owns_row = round == 0 && tid < k;
    int ti = 0, tj = 0;
    if (has_pair) decode_pair(pair, tiles, ti, tj);
    if (has_pair) {
      for_each_owned(ti, tj, k, [&](int, int, int64_t u) { out[u] = out[upper + u] = 0.0f; });
    }
    float norm_acc = 0.0f, update_acc = 0.0f, weight_acc = 0.0f;

    for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
      const T* token = hidden + t * stride_n;
      float gram[kTile][kTile] = {};
      float sq = 0.0f, diff_sq = 0.0f;
      for (int64_t d0 = 0; d0 < d; d0 += chunk) {
        __syncthreads();  // the previous chunk and the previous token's norms are no longer read
        // Stage columns [d0, d0 + chunk) of four boundaries per item, as one float4 per column.
        for (int item = tid; item < tiles * chunk; item += blockDim.x) {
          const int q = item / chunk;
          const int col = item - q * chunk;
          const int64_t dd = d0 + col;
          float v[kTile];
#pragma unroll
          for (int r = 0; r < kTile; ++r) {
            const int row = q * kTile + r;
            v[r] = (row < k && dd < d) ? to_float(token[row * stride_k + dd]) : 0.0f;
          }
          reinterpret_cast<float4*>(staged)[(static_cast<int64_t>(col) * k_pad) / kTile + q] =
              make_float4(v[0], v[1], v[2], v[3]);
        }
        __syncthreads();
        if (has_pair) {
          // Two-level sum: the chunk's dot products (at most 128 terms) are added to the running Gram
          // once per chunk, so float32 error does not grow with D (arccos amplifies it).
          const float4* cols = reinterpret_cast<const float4*>(staged);
          const int row4 = k_pad / kTile;
          float part[kTile][kTile] = {};
          for (int col = 0; col < chunk; ++col) {
            const float4 a4 = cols[col * row4 + ti];
            const float4 b4 = cols[col * row4 + tj];
            const float a[kTile] = {a4.x, a4.y, a4.z, a4.w};
            const float b[kTile] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
            for (int r = 0; r < kTile; ++r) {
#pragma unroll
              for (int s = 0; s < kTile; ++s) part[r][s] = fmaf(a[r], b[s], part[r][s]);
            }
          }
#pragma unroll
          for (int r = 0; r < kTile; ++r) {
#pragma unroll
            for (int s = 0; s < kTile; ++s) gram[r][s] += part[r][s];
          }
        }
        if (tid < k) {
          for (int col = 0; col < chunk; ++col) {
            const float x = staged[col * k_pad + tid];
            sq = fmaf(x, x, sq);
            if (tid + 1 < k) {
              const float diff = staged[col * k_pad + tid + 1] - x;
              diff_sq = fmaf(diff, diff, diff_sq);
            }
          }
        }
      }
      const float w = weight[t];
      if (tid < k) {
        const float norm = sqrtf(sq);
        norms[tid] = norm;
        if (owns_row) {
          norm_acc += w * norm;
          if (tid + 1 < k) update_acc += w * (sqrtf(diff_sq) / max_eps(norm));
          if (tid == 0) weight_acc += w;
        }
      }
      __syncthreads();  // norms complete
      if (has_pair) {
        for_each_owned(ti, tj, k, [&](int r, int s, int64_t u) {
          const int i = ti * kTile + r;
          const int j = tj * kTile + s;
          const float di = max_eps(norms[i]);
          float c;
          if (i == j) {
            // cos(h, h) = 1 by definition: n / n is exact, so the diagonal angle is exactly 0.
            const float self = norms[i] / di;
            c = self * self;
          } else {
            c = gram[r][s] / (di * max_eps(norms[j]));
          }
          c = clamp_unit(c);
          out[u] += w * c;
          out[upper + u] += w * (acosf(c) * kInvPi);
        });
      }
    }
    if (owns_row) {
      out[2 * upper + tid] = norm_acc;
      if (tid + 1 < k) out[2 * upper + k + tid] = update_acc;
      if (tid == 0) out[2 * upper + 2 * k - 1] = weight_acc;
    }
  }
}

// out[e] = sum over blocks of the partial feeding packed element e, in float64.
__global__ void reduce_kernel(const float* __restrict__ partials, int64_t grid, int64_t partial_floats, int64_t k,
                              double* __restrict__ out) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t kk = k * k;
  const int64_t upper = k * (k + 1) / 2;
  if (e >= 2 * kk + 2 * k) return;
  int64_t src;
  if (e < 2 * kk) {
    const int64_t m = e % kk;
    const int64_t a = m / k, b = m % k;
    src = (e < kk ? 0 : upper) + (a <= b ? upper_index(a, b, k) : upper_index(b, a, k));
  } else {
    src = 2 * upper + (e - 2 * kk);
  }
  double sum = 0.0;
  for (int64_t g = 0; g < grid; ++g) sum += static_cast<double>(partials[g * partial_floats + src]);
  out[e] = sum;
}

template <typename T>
void launch_partials(const BoundaryStatsProblem& p, const Config& cfg, float* workspace, int64_t grid,
                     cudaStream_t stream) {
  partial_kernel<T><<<static_cast<unsigned>(grid), cfg.threads, cfg.shared_bytes, stream>>>(
      static_cast<const T*>(p.hidden), p.weight, cfg.k, p.n, p.d, p.stride_k, p.stride_n, cfg.tiles, cfg.pairs,
      cfg.chunk, cfg.partial_floats, workspace);
}

}  // namespace

int64_t grid_size(int64_t k, int64_t n, int64_t sm_count) {
  const Config cfg(k);
  // Enough resident blocks to hide latency, few enough that each block amortises its partial write.
  int64_t per_sm = 2048 / cfg.threads;
  if (per_sm < 1) per_sm = 1;
  if (per_sm > 16) per_sm = 16;
  int64_t grid = (sm_count > 0 ? sm_count : 1) * per_sm;
  if (grid > n) grid = n;
  return grid > 0 ? grid : 1;
}

int64_t workspace_floats(int64_t k, int64_t grid) { return Config(k).partial_floats * grid; }

void boundary_stats(const BoundaryStatsProblem& p, double* out, float* workspace, int64_t grid, uintptr_t stream_handle) {
  if (p.k < 2 || p.k > kMaxBoundaries) {
    throw std::invalid_argument("boundary_stats (cuda): K must be in [2, " + std::to_string(kMaxBoundaries) +
                                "], got " + std::to_string(p.k));
  }
  if (p.n < 0 || p.d < 1) throw std::invalid_argument("boundary_stats (cuda): need N >= 0 and D >= 1");
  if (!dtype_is_valid(p.dtype)) throw std::invalid_argument("boundary_stats (cuda): unsupported dtype code");
  if (grid < 1) throw std::invalid_argument("boundary_stats (cuda): grid must be >= 1");
  cudaStream_t stream = reinterpret_cast<cudaStream_t>(stream_handle);
  const BoundaryStatsLayout layout{p.k};
  if (p.n == 0) {
    check_cuda(cudaMemsetAsync(out, 0, sizeof(double) * layout.size(), stream), "cudaMemsetAsync");
    return;
  }
  const Config cfg(p.k);
  switch (p.dtype) {
    case kFloat32: launch_partials<float>(p, cfg, workspace, grid, stream); break;
    case kBFloat16: launch_partials<__nv_bfloat16>(p, cfg, workspace, grid, stream); break;
    default: launch_partials<__half>(p, cfg, workspace, grid, stream); break;
  }
  check_cuda(cudaGetLastError(), "partial_kernel launch");
  const int threads = 256;
  const int64_t blocks = (layout.size() + threads - 1) / threads;
  reduce_kernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(workspace, grid, cfg.partial_floats, p.k, out);
  check_cuda(cudaGetLastError(), "reduce_kernel launch");
}

}  // namespace cuda
}  // namespace fastprune
