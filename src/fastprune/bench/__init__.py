"""Speed benchmarks: what depth reduction buys against its ideal, on the hardware at hand."""
