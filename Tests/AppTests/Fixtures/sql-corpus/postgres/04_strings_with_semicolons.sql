INSERT INTO t VALUES ('a;b'), ('it''s; fine');
SELECT ';' AS x;
