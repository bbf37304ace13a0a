"""The built-in generation engine: ``engine.GenerationEngine`` schedules requests (continuous batching,
``stops``) over a static KV cache (``kv_cache``) and runs them on the fast decoder (``runner_fast``, with
CUDA-graph replay in ``cuda_graphs``) or the HF forward of any family (``runner_hf``).

Nothing is imported here: torch loads when a module is; ``fastprune.engines.GenerationEngine`` is the
public name.
"""
