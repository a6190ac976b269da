"""Sensors: runs started by changes outside Dagster."""
