"""The console's pages: server-rendered HTML (Jinja2), live over SSE, Dutch by default.

One module per resource: `login` (sign in and out), `queue` (the alarm queue, `/`),
`dwellings` (the board and one dwelling's page), `alarms` (acting on an alarm without
JavaScript), `events` (the live stream), `ack` (the mantelzorger's link pages). `views`
renders what several of them show (cards, lists, the board), `guard` is the one place a
browser's state-changing request is checked (origin, CSRF). `routes.router` puts them
together; hub.api.app mounts it beside the JSON API (hub.api.api).

No imports here: hub.api.console imports hub.console.texts, and the routes import
hub.api.console.
"""
