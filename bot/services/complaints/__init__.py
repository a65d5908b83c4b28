"""Complaints (SPEC §5): the one owner of the rules, called by the chat, the job, the pages and the API.

- intake: filing a complaint (number, SLA clock, photos, assignment) and adding to an open one
- assignment: choosing and changing the assignee
- handling: respond, note, resolve
- survey: the 1-5 score after a resolution; a low score reopens
- escalation: warning, level 1, level 2 and auto-close, claimed by conditional updates
- photos: recording photos and copying them out of WeChat before they expire
- sla: per-store deadlines and how near they are; permissions: who sees and does what
- queries: lists, board and detail for the pages; figures: the KPIs
- notices, trail: the outbox messages and the append-only audit trail every step writes

None of them takes a request or an app: they get the actor, the clock's `now`, and `Notices`.
"""
