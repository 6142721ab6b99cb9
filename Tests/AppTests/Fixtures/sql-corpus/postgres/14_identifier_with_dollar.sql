CREATE TABLE a$b (c$d int);
SELECT c$d FROM a$b;
