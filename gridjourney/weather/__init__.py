"""Outdoor temperature: import from NOAA/plain CSV files, store daily means per station, read per zone."""
