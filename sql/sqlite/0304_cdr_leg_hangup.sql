-- Why a leg ended when it is not the call's own end: `transferred` on the leg whose party
-- transferred the call away (a blind transfer by REFER); empty otherwise. The call keeps one
-- record: the transfer target's leg is added to it and the call's hangup side and cause say
-- how the conversation finally ended.
ALTER TABLE cdr_legs ADD COLUMN hangup_cause TEXT NOT NULL DEFAULT '';
