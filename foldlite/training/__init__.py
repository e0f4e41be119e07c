"""Stage: the training loop, its crop sampler and templates, losses, schedules, and export of shippable
weights."""
