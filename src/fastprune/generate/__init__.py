"""The ``generate`` stage: self-response datasets (prompts in, JSONL of the model's own answers out).

The engine the stage runs on lives below the stages, in ``fastprune.engines`` (``GenerationEngine``, the
request types, the vLLM engine).
"""
