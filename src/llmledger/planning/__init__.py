"""Requirements capture, model shortlist, monthly-bill projection and plan vs actual."""
