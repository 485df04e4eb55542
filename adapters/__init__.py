"""Channel adapters: each verifies authenticity and parses its provider's payload into a RawMessage."""
