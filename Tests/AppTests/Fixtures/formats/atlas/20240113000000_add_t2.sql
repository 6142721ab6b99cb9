-- create "t2" table
CREATE TABLE t2 (id int NOT NULL, name text NULL, PRIMARY KEY (id));
INSERT INTO t2 (id, name) VALUES (1, 'a;b');
