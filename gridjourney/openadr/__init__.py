"""OpenADR 2.0b: the utility's VEN (ven.py), which turns a VTN's events into dr.* events in the log
(mapping.py says how), and a local VTN (vtn.py) for the demo and the tests."""
