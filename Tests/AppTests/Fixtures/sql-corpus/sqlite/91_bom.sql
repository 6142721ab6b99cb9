CREATE TABLE log (msg TEXT);
CREATE TRIGGER t_ai AFTER INSERT ON a
BEGIN
  INSERT INTO log VALUES ('inserted;');
  UPDATE log SET msg = msg || ';';
END;
SELECT 1;
