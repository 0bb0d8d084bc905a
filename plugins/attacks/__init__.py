"""First-party attacks, one file each."""
