"""REST resources over the ICE actions."""
