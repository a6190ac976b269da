"""Schedules: runs started by the clock."""
