-- squawk-ignore ban-drop-column
ALTER TABLE t DROP COLUMN a;
ALTER TABLE t DROP COLUMN b;
