"""The tour's demo MCP server ("Notes", ``notes.py``) and the MCP client that connects to it (``connect.py``).
Both need the ``mcp`` package (a dev dependency, installed by scripts/bootstrap.sh for run.sh)."""
