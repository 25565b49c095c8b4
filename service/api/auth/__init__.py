"""Request authentication: ICE signatures (V3 and RPC v1), nonces and per-key rate limits."""
