"""Local quantized model lab: llama.cpp variants, latency runs, quality, memory and price."""
