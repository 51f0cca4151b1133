-- compatible-with: 7
-- Telegram Passport (Blink core): a sign-in flow's channel may be 'telegram',
-- its identifier the phone number Telegram confirms. The check is replaced by
-- one that allows one more channel.
-- expand: dropping the old check refuses nothing older code writes
ALTER TABLE login_flows DROP CONSTRAINT login_flows_channel_check;
-- expand: the new check allows every channel the old one did, and 'telegram'
ALTER TABLE login_flows ADD CONSTRAINT login_flows_channel_check
    CHECK (channel IN ('email', 'sms', 'whatsapp', 'telegram'));
