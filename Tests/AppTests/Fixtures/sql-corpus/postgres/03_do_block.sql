DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN
    CREATE TYPE mood AS ENUM ('sad', 'ok');
  END IF;
END
$$;
CREATE TABLE t (m text);
