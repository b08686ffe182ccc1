//! ACD: skill-group queues, routing strategies, the agent state machine, supervisor actions.
