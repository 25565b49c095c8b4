"""The machine-readable documents (OpenAPI, AsyncAPI) and the error reference page."""
