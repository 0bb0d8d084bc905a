"""First-party defenses, one file each."""
