"""The model service: FastAPI on uvicorn, one module per concern — settings, the served model
and its hot reload (`model`), request and response schemas built from the model's signature
(`schemas`), Prometheus metrics (`metrics`) and the app factory with its routes (`app`)."""
