"""Pure rules: signatures, the retry schedule, which events become which webhooks."""
