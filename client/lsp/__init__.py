"""`axd lsp`: a Language Server on stdio answering from the daemon's index.

`server.py` wires pygls; `features.py` answers each LSP method; `backend.py`
talks to the daemon; `convert.py` maps axd results to LSP types; `positions.py`
converts columns between axd's bytes and the negotiated position encoding.
"""
