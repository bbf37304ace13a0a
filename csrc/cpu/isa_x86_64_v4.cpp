// Token kernel for x86-64-v4 (AVX-512 F/BW/DQ/VL), compiled with -march=x86-64-v4 and only ever called
// after a runtime CPU check. 4x4 tiles of 16-lane vectors: 16 accumulators plus operands fit 32 ZMM registers.
#define FP_ISA_NS x86_64_v4
#define FP_TILE 4
#define FP_LANES 16
#include "boundary_stats_tokens.inl"

// Skinny linear (decode-step matrix products) for the same instruction set.
#define FP_VREGS 32
#include "skinny_linear_rows.inl"

// Decode attention for the same instruction set.
#include "decode_attention_rows.inl"

// Fused sampling for the same instruction set.
#include "sampling_rows.inl"
