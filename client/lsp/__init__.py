"""`axd lsp`: a Language Server on stdio answering from the daemon's index.

`server.py` wires pygls (lifecycle, document sync, capabilities) and reads
stdin; `router.py` answers the index requests itself and hands every other
message to pygls; `wire.py` holds those requests' and answers' msgspec shapes;
`features.py` answers each LSP method; `backend.py` keeps the daemon
connection (`channel.py`, asyncio) and its `index.changed` subscriptions;
`convert.py` maps axd results to LSP shapes; `positions.py` converts columns
between axd's bytes and the negotiated position encoding.
"""
