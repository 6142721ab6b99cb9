BEGIN;

ALTER TABLE users ADD COLUMN mood VARCHAR (20);
UPDATE users SET mood = 'happy; mostly';

COMMIT;
