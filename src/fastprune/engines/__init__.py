"""External engines the stages can run on, below the stages: a vLLM OpenAI-compatible server (started,
watched and stopped here, or reused), its completions client, and ``VLLMEngine``, which gives the server
the built-in generation engine's ``stream``/``generate`` interface."""
