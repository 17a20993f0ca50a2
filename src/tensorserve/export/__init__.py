"""The export tool: Keras model or SavedModel in, servable version directory out.

Public API (import from the submodules; importing this package imports nothing, so the
command line stays fast until a command runs):

* ``exporter.export_model(ExportOptions, progress) -> ExportResult``
* ``saved_model_show.read_saved_model(path)`` and ``format_signatures(saved_model)``
* ``errors.ExportError`` - the one-sentence failure
* ``cli.add_parser(subparsers)`` - ``tensorserve export`` and ``tensorserve inspect``

See README.md in this folder for the signature layout.
"""
