"""Compiled core (built from ext/*.pyx): decode, flowtable, eve, hst."""
