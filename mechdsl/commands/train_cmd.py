"""`mechdsl train` and `mechdsl eval` (owned by the trainer work; placeholder until it lands)."""
