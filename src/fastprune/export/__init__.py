"""``fastprune export``: a (pruned) checkpoint in another runtime's format, verified on export (GGUF for llama.cpp)."""
