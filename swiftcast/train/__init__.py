"""Training: shared loop utilities (DDP, resumable sampling, schedules, safe state files) and the commands."""
