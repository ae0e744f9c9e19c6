"""The animators' phone pages (role Animateur only, see app/security.py): the day's attendance and
bus boarding of the establishments and circuits assigned to them. They work offline: the page and
its list are cached by a service worker, ticks are queued on the phone and sent to the sync API
(app/api/attendance.py) when the network returns."""
