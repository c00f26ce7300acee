"""Who may see what: the permissions on sensitive data, the shipped roles, and the log of exports."""
