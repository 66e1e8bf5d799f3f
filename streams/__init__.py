"""Thin Faust wiring around the monitor core."""
