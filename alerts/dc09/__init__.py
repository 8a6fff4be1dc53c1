"""SIA DC-09 transmitter: the hub's link to the alarm receiving centre (alarmmeldpunt).

`codec` (pure) builds and parses DC-09 frames carrying Ademco Contact ID (ADM-CID),
`codes` (pure) maps our alarms to Contact ID event codes, `link` (asyncio I/O) moves the
frames to a primary or backup receiver over TCP and watches the link with NULL messages.
"""
