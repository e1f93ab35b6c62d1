"""One error base for the whole package: pages show `title` and `msg`, the CLI prints one line."""


class LedgerError(Exception):
    title = "LLM Ledger error"

    def __init__(self, msg: str, title: str | None = None):
        super().__init__(msg)
        self.msg = msg
        if title:
            self.title = title


class StoreError(LedgerError):
    title = "Database error"


class DatabaseLocked(StoreError):
    title = "Database in use"


class PayloadError(LedgerError):
    """A telemetry payload that cannot be decoded at all (maps to HTTP 400)."""

    title = "Malformed telemetry"


class PricingError(LedgerError):
    title = "Pricing error"


class TokenizerError(LedgerError):
    title = "Tokenizer error"


class PlanningError(LedgerError):
    title = "Invalid requirements"


class LocalModelError(LedgerError):
    title = "Local model error"


class SimulationError(LedgerError):
    """Bad input to a what-if (dataset, router, cascade, policy): the message names the problem."""

    title = "What-if error"
