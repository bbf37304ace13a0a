// Token kernel for the compiler's default target (SSE2 on x86-64, NEON on aarch64): always built,
// the fallback on any CPU. 3x3 tiles of 4-lane vectors fit the 16 SSE registers.
#define FP_ISA_NS baseline
#define FP_TILE 3
#define FP_LANES 4
#include "boundary_stats_tokens.inl"

// Skinny linear (decode-step matrix products) for the same instruction set.
#define FP_VREGS 16
#include "skinny_linear_rows.inl"

// Decode attention for the same instruction set.
#include "decode_attention_rows.inl"

// Fused sampling for the same instruction set.
#include "sampling_rows.inl"
