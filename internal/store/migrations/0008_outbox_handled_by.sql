-- compatible-with: 7
-- Which sender first handled each message ('dev', 'smtp', 'twilio', 'webhook'),
-- so the DEV_MODE page can list only what the development logger handled and
-- never a message that went to a real provider.
ALTER TABLE outbox ADD COLUMN handled_by text;
