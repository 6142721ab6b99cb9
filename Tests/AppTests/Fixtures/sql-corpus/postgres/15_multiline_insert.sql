INSERT INTO t (m)
VALUES
  ('one'),
  ('two;three');
UPDATE t SET m = m || ';' WHERE m LIKE '%;%';
