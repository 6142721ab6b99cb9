ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now();
