"""The simulated company: a tool that produces a realistic company's events (not domain)."""
