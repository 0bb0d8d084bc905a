"""First-party privbench plugins: tracks, attacks and defenses."""
