"""Who may see and do what: roles, scoping by site and camera group, API tokens.

The seams the other apps use: `cloud.access.roles.require_role` (a view decorator) and
`cloud.access.roles.check_role` (for the API), and `cloud.access.scope.visible_camera_ids`
(the cameras a user may see, None for all of them).
"""
