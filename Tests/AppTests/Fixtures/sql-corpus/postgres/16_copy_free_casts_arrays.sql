SELECT ARRAY['a;b', 'c']::text[];
SELECT '{"k": ";"}'::jsonb -> 'k';
SELECT (1);
