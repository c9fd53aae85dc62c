"""A business's own Twilio account: `/business/twilio`."""
