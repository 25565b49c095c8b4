"""The preview page's static files (package data): its script and styles, and the vendored Plyr with its licence."""
