"""The mantelzorger's (family caregiver's) page: mobile first, Dutch by default,
installable as a PWA (docs/family.md).

`routes.router(console)` serves everything under /familie, `routes.static_files()` its
shell (styles, script, icons, service worker) under /familie/static; hub.api.app mounts
both. A mantelzorger reaches it through the link in an alarm message (a short session,
no password) or logs in with their e-mail address and a password of their own
(`mz admin contact set-password`); either way the session grants their own dwelling
only. `summary` sends the daily "alles goed" message to those who want it.
"""
