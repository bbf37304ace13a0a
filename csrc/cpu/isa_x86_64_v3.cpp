// Token kernel for x86-64-v3 (AVX2 + FMA + F16C), compiled with -march=x86-64-v3 and only ever called
// after a runtime CPU check. 3x3 tiles of 8-lane vectors: 9 accumulators plus operands fit 16 YMM registers.
#define FP_ISA_NS x86_64_v3
#define FP_TILE 3
#define FP_LANES 8
#include "boundary_stats_tokens.inl"

// Skinny linear (decode-step matrix products) for the same instruction set.
#define FP_VREGS 16
#include "skinny_linear_rows.inl"

// Decode attention for the same instruction set.
#include "decode_attention_rows.inl"

// Fused sampling for the same instruction set.
#include "sampling_rows.inl"
