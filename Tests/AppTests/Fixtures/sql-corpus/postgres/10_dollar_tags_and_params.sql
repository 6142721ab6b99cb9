PREPARE q AS SELECT $1::int + 1;
SELECT $tag$ $$ ; $$ $tag$;
CREATE FUNCTION g(int) RETURNS int AS $$ SELECT $1 $$ LANGUAGE sql;
