-- create "tbl" table
CREATE TABLE tbl (`col` int NOT NULL);
