"""Compiled core (built from ext/*.pyx; ext/README.md has the map of its rooms): names,
decode, flowtable (FlowMeter), eve, hst."""
