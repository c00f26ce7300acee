"""Compliance: the calling rules per jurisdiction (as data), the strictest-wins policy, frequency caps,
consent, national do-not-call lists, reassigned numbers, the abandonment governor and the evidence record."""
