"""The simulator's shop profiles by name, apart from their generators (numpy, pandas) so that
validating a config stays cheap for commands that generate nothing."""
PROFILES = ('shop', 'search_graded', 'sessions')
