"""Serving stored objects to clients: signed /files/ URLs, storyboard manifests, CORS."""
