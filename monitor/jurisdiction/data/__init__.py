"""Packaged data of the jurisdiction resolver (the gazetteer) and the script that regenerates it."""
