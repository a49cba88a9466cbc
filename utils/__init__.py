"""The toolkit's command-line scripts. Run them as ``python utils/NAME.py``; ``pip install``
also ships this folder as the package ``sse_utils`` behind the ``sse-*`` commands
(``sse/core/commands.py``)."""
