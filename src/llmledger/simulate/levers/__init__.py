"""What-if lab II: caching, compression, memory and batching on a feature's own calls (issue #18).

Pure functions over a DataFrame of calls (see core.py for its columns) and a price table
{model: ModelPrices}; each returns a LeverResult (baseline cost, what-if cost, saving, the
assumptions it rests on, a details table). No DuckDB, no Streamlit: reads/levers.py builds the
inputs from the ledger, simulate/levers_cli.py prints the results.

    response_cache(calls, ttl_s=3600, mode="exact"|"normalised")
    agent_cache(calls, scope="trace"|"session")
    prompt_cache(calls, prices, lifetime="5m"|"1h", min_prefix=1024, block=None)
    batch_api(calls, prices, features=None, rule=None)
    output_caps(calls, prices, caps=None, quantile=0.95)
    memory(calls, prices, k=4, summary_tokens=200, strategy="summary"|"window")
    compress(calls, prices, keep=0.5, sample=20)            SmolLM2 through llama.cpp
    in_sequence(calls, [(name, lever), ...])                 savings without double counting
"""

from llmledger.simulate.levers.batching import batch_api, output_caps
from llmledger.simulate.levers.compression import compress
from llmledger.simulate.levers.core import LeverResult, ModelPrices, check_calls
from llmledger.simulate.levers.prefix import prompt_cache
from llmledger.simulate.levers.response import agent_cache, response_cache
from llmledger.simulate.levers.sessions import memory
from llmledger.simulate.levers.summary import DEFAULT_ORDER, in_sequence

__all__ = [
    "LeverResult",
    "ModelPrices",
    "check_calls",
    "response_cache",
    "agent_cache",
    "prompt_cache",
    "batch_api",
    "output_caps",
    "memory",
    "compress",
    "in_sequence",
    "DEFAULT_ORDER",
]
