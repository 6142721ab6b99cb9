CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz DEFAULT now());
CREATE INDEX audit_at ON audit (at);
INSERT INTO audit (id) VALUES (1);
ALTER TABLE t ADD COLUMN note text;
ALTER TABLE t ADD COLUMN flag boolean NOT NULL DEFAULT false;
UPDATE t SET note = 'x' WHERE note IS NULL;
SELECT 1;
