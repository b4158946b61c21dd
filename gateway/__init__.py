"""The 911 -> 988 transfer gateway service."""
