"""AI adapters of the media bridge: one module per wire protocol behind `base.AgentAdapter`."""
