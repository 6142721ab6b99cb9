CREATE FUNCTION f() RETURNS trigger AS $fn$
BEGIN
  EXECUTE $q$SELECT 1; SELECT 2$q$;
  RAISE NOTICE 'semi; colon';
  RETURN NEW;
END;
$fn$ LANGUAGE plpgsql;
SELECT 1;
