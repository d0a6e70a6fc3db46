"""The model families, one folder each: `__init__.py` holds the family's params class
(`PARAMS`), light to import; `model.py` its Candidate class (`MODEL`), imported only when the
family runs. reprotune.models.registry lists them and finds them by name (docs/architecture.md)."""
