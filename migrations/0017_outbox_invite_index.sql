-- A send request asks which of its invites already have a message on its
-- way (`invite_id IN (…)`), and deleting an invite cascades to its
-- messages: both read the outbox by invite, which without this index is a
-- scan of the whole outbox (it keeps sent messages).
CREATE INDEX outbox_invite ON outbox (invite_id);
