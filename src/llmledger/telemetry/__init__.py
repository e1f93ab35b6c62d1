"""OTLP decoding, convention mapping, attribution, the receiver, its spool and the loader."""
