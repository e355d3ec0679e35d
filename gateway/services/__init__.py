"""Admin services: one per concern, each owning validation, persistence, audit and replica notification.

The JSON API (`gateway.edge.routes.admin`), the pages (`admin_ui.views.admin`) and the CLI
(`gateway.commands.main`) call the same methods, so one action has one audit action name and
one target format whichever door it came through.
"""
